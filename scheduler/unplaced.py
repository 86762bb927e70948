"""Why the sessions a proposal leaves out are left out, in the front desk's words: one reason per session.

Each unplaced session gets its own reason from ``solver.plan_reasons`` (what
stops it where the answer left it room, and when: "no clinician certified in
shockwave therapy (ESWT) is free at any time left for it in week 3 of the
plan (Tue 2027-03-16)"). What CP-SAT's assumptions say about the plan as a
whole (no arrangement fits these rules in these dates) is said once, on the
first unplaced session of a line it names, not repeated on every line.
Dates are the location's; the dates and weeks are counted from the plan's
first day.
"""

from datetime import date

from data.tables import PlanSession, TreatmentPlan
from scheduler.catalog_snapshot import CatalogSnapshot
from scheduler.clock import from_minute
from solver.plan_model import BindingRule, Explanation, Outcome
from solver.plan_reasons import Unplaced, unplaced_sessions
from solver.plans import Placement, PlanProblem, SessionKind

MAX_REASON = PlanSession.__table__.c.unplaced_reason.type.length
CAPACITY_CODES = {"patient_busy", "no_clinician", "plan_clinician", "no_room", "no_device", "no_common_time", "taken"}
SPACING_RULES = ("spacing", "spacing_hours")  # in calendar days, in hours: said together when both bind
WEEKDAYS = ["Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"]


def unplaced_reasons(plan: TreatmentPlan, problem: PlanProblem, placements: tuple[Placement, ...],
                     explanation: Explanation, snapshot: CatalogSnapshot) -> dict[tuple[str, int], str]:
    """(line's service key, index) -> the reason, for every session ``placements`` leaves out."""
    words = _Words(plan, problem, snapshot, {(p.kind, p.index): p for p in placements})
    left = unplaced_sessions(problem, placements)
    reasons = {(u.kind, u.index): words.of(u) for u in left}
    whole = describe(explanation, plan, problem)
    if whole and left:
        first = next((u for u in left if _concerns(explanation, u)), left[0])
        reasons[first.kind, first.index] += f"; {whole}"
    return {key: _fit(reason) for key, reason in reasons.items()}


def _concerns(explanation: Explanation, unplaced: Unplaced) -> bool:
    """Whether what is said of the whole plan is said best on this session: a line its rules name, or a session
    short of clinicians, rooms, devices or the patient's time when no rule is to blame."""
    if explanation.outcome == Outcome.NO_CAPACITY:
        return unplaced.code in CAPACITY_CODES
    return any(unplaced.kind in (rule.kind, rule.other) for rule in explanation.rules)


class _Words:
    def __init__(self, plan: TreatmentPlan, problem: PlanProblem, snapshot: CatalogSnapshot,
                 placed: dict[tuple[str, int], Placement]):
        self.plan, self.problem, self.snapshot, self.placed = plan, problem, snapshot, placed
        self.zone = snapshot.locations[plan.location_id].zone

    def of(self, unplaced: Unplaced) -> str:
        kind = self.problem.kind(unplaced.kind)
        when = self._when(unplaced.window)
        ends = f"before the plan ends on {self._day(self.plan.latest_end)}"
        left = f"at any time left for it {when}"
        code = unplaced.code
        if code == "after_unplaced":
            return self._after(kind, unplaced.after)
        if code == "dates":
            return f"no time is left for it between the earliest bookable moment and the plan's end " \
                   f"({self._day(self.plan.latest_end)})"
        if code == "spacing":
            spacing = " and ".join(_spacing_words(kind, rule) for rule in SPACING_RULES if _has(kind, rule))
            return f"spacing of {spacing} after {self._session(unplaced.after, kind)} leaves no time {ends}"
        if code == "same_visit":
            return f"it must start as {self._session(unplaced.after, kind)} ends, which leaves no time {ends}"
        if code == "before":
            return f"it must come after {self._session(unplaced.after, kind)}, which leaves no time {ends}"
        if code == "closed":
            return f"the clinic is not open for a {kind.duration}-minute session at any time its rules leave {when}"
        if code == "patient_windows":
            return f"the patient's available times ({windows_text(self.plan)}) leave no time for it {when}"
        if code == "not_allowed":
            return f"no allowed time is left for it {when}"
        if code == "patient_busy":
            return f"the patient's other appointments take every time left for it {when}"
        if code == "no_clinician":
            certification = self._service(kind).certification
            who = f"clinician certified in {certification.label}" if certification else "clinician"
            return f"no {who} is free {left}"
        if code == "plan_clinician":
            return f"{unplaced.noun}, who gives this plan's {kind.name} sessions, is not free {left}"
        if code == "no_room":
            room = self._service(kind).room_kind
            return f"no room of the kind it needs ({room.value.replace('_', ' ')}) is free {left}"
        if code == "no_device":
            count = next(pool.count for pool in kind.devices if pool.type_name == unplaced.noun)
            units = f"{unplaced.noun} unit" if count == 1 else f"{count} {unplaced.noun} units at once"
            return f"no {units} {'is' if count == 1 else 'are'} free {left}"
        if code == "no_common_time":
            return f"{_and(_needs(kind))} are never free at the same time {left}"
        if code == "taken":
            return f"this plan's other sessions take every time left for it {when} (most often: {unplaced.noun})"
        return f"a time {when} is still free; the search stopped before using it: propose again"

    def _after(self, kind: SessionKind, after: tuple[str, int]) -> str:
        leader = self.problem.kind(after[0])
        if leader.key == kind.key:
            return f"it comes after session {after[1] + 1}, which is not placed"
        if any(link.first == leader.key and link.then == kind.key for link in self.problem.same_visits):
            return f"it follows {leader.name} session {after[1] + 1} in the same visit, which is not placed"
        return f"it comes after {leader.name} session {after[1] + 1}, which is not placed"

    def _session(self, key: tuple[str, int], kind: SessionKind) -> str:
        """'session 3 (Fri 2027-03-12 09:00)', or with the line's name when it is another line's."""
        other = self.problem.kind(key[0])
        start = from_minute(self.placed[key].start, self.zone)
        name = f"session {key[1] + 1}" if other.key == kind.key else f"{other.name} session {key[1] + 1}"
        return f"{name} ({self._day(start.date())} {start:%H:%M})"

    def _when(self, window: tuple[int, int] | None) -> str:
        """'in week 3 of the plan (Tue 2027-03-16)', 'in weeks 2-3 of the plan (Mon 2027-03-08 to Tue 2027-03-16)'."""
        if window is None:
            return f"between {self._day(self.plan.earliest_start)} and {self._day(self.plan.latest_end)}"
        first = from_minute(window[0], self.zone).date()
        last = from_minute(window[1] - 1, self.zone).date()
        weeks = sorted({self._week(first), self._week(last)})
        numbers = f"week {weeks[0]}" if len(weeks) == 1 else f"weeks {weeks[0]}-{weeks[1]}"
        days = self._day(first) if first == last else f"{self._day(first)} to {self._day(last)}"
        return f"in {numbers} of the plan ({days})"

    def _week(self, day: date) -> int:
        return (day - self.plan.earliest_start).days // 7 + 1

    @staticmethod
    def _day(day: date) -> str:
        return f"{day:%a} {day.isoformat()}"

    def _service(self, kind: SessionKind):
        return self.snapshot.services[int(kind.key)]


def describe(explanation: Explanation, plan: TreatmentPlan, problem: PlanProblem) -> str:
    """What CP-SAT found about the whole plan, or nothing when it found nothing in time."""
    until = f"between {plan.earliest_start.isoformat()} and {plan.latest_end.isoformat()}"
    if explanation.outcome == Outcome.FITS:
        return "the whole plan fits, but the solver ran out of time before placing it; propose again"
    if explanation.outcome == Outcome.TIMED_OUT:
        return ""
    if explanation.outcome == Outcome.NO_CAPACITY:
        return (f"whatever the arrangement, there is not enough free time of the qualified clinicians, rooms and "
                f"devices {until} (with the patient's other appointments)")
    parts, where = [], ""
    for rule in explanation.rules:
        kind = problem.kind(rule.kind) if rule.kind else None
        other = problem.kind(rule.other) if rule.other else None
        if rule.code in SPACING_RULES:
            spacing = " and ".join(_spacing_words(kind, code) for code in SPACING_RULES
                                   if BindingRule(code, rule.kind) in explanation.rules)
            if (said := f"{kind.count} {kind.name} sessions {spacing} apart") not in parts:
                parts.append(said)
        elif rule.code == "same_visit":
            parts.append(f"{other.name} right after {kind.name} in the same visit")
        elif rule.code == "before":
            parts.append(f"{kind.name} before any {other.name}")
        elif rule.code == "same_clinician":
            parts.append(f"one clinician for every {kind.name} session")
        elif rule.code == "patient_windows":
            where = f" in the patient's available times ({windows_text(plan)})"
    subject = " with ".join(parts) or "the sessions"
    return f"whatever the arrangement, {subject} do not fit {until}{where}"


def _has(kind: SessionKind, code: str) -> bool:
    if code == "spacing":
        return kind.min_gap_days is not None or kind.max_gap_days is not None
    return kind.min_gap_hours is not None or kind.max_gap_hours is not None


def _spacing_words(kind: SessionKind, code: str) -> str:
    """A spacing rule in words: '5-10 days', 'at least 48 h', 'at most 3 days'."""
    least, most, unit = ((kind.min_gap_days, kind.max_gap_days, "days") if code == "spacing"
                         else (kind.min_gap_hours, kind.max_gap_hours, "h"))
    if least is not None and least == most:
        return f"exactly {least} {unit}"
    if least is not None and most is not None:
        return f"{least}-{most} {unit}"
    return f"at least {least} {unit}" if least is not None else f"at most {most} {unit}"


def _needs(kind: SessionKind) -> list[str]:
    needs = ["a certified clinician"] + (["a room"] if kind.needs_room else [])
    return needs + [f"a {pool.type_name} unit" if pool.count == 1 else f"{pool.count} {pool.type_name} units"
                    for pool in kind.devices if pool.count]


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def windows_text(plan: TreatmentPlan) -> str:
    text = ", ".join(f"{WEEKDAYS[w.weekday]} {w.starts:%H:%M}-{w.ends:%H:%M}" for w in plan.windows)
    if plan.blackouts:
        text += f"; not on {', '.join(b.day.isoformat() for b in plan.blackouts)}"
    return text or "none given"


def _fit(reason: str) -> str:
    """The stored reason has a length limit; a very long list of windows and blackouts is cut short."""
    return reason if len(reason) <= MAX_REASON else reason[:MAX_REASON - 1] + "…"
