"""The independent checker: does a proposed plan placement keep every rule?

Written from the rules themselves, not from any placer, so that a bug in the
CP-SAT model or in the greedy placer cannot hide behind the same bug here.
Every schedule is re-verified against the raw problem before it is shown or
written, and the tests hold both placers to it.

Each broken rule is reported once per offending session (or pair of
sessions) with a stable code for programs and a sentence for the front desk.
``measure`` counts what a placement is worth on each level of the CP-SAT
model's objective, from the placements alone, so the model's values can be
held to it.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from solver.intervals import Interval, contains, normalize
from solver.plans import Candidate, PlanProblem, PlanSolution, Placement, SameClinician, SessionKind, blocked


Names = dict[tuple[str, int], str]

WEIGHTS = {
    "extra_clinician_for_a_kind": 400,
    "not_previous_clinician": 100,
    "not_preferred_time": 20,
    "day_from_start": 1,
}
"""The quality level's cost (minimized), each term counted per placed session or, for clinicians, per kind: one
more clinician for a kind whose continuity of care is preferred weighs most; then a session not with the patient's
last clinician (where that clinician may give it), then one outside the preferred times; then every session as
soon as it can be: its local day, counted from the first day of the horizon (``day_starts``)."""


@dataclass(frozen=True)
class Violation:
    """One broken rule: ``rule`` is a stable code, ``message`` names the session and the resource."""

    rule: str
    message: str


@dataclass(frozen=True)
class _Session:
    """A placement whose kind and index are known, with the words used to name it."""

    kind: SessionKind
    placement: Placement

    @property
    def label(self) -> str:
        return _label(self.kind.name, self.placement.index)

    @property
    def start(self) -> int:
        return self.placement.start

    @property
    def end(self) -> int:
        return self.placement.start + self.kind.duration


def check(problem: PlanProblem, solution: PlanSolution) -> list[Violation]:
    """Every rule ``solution`` breaks for ``problem``; an empty list means it may be booked."""
    kinds = {kind.key: kind for kind in problem.kinds}
    violations: list[Violation] = []
    sessions = _known_sessions(kinds, solution.placements, violations)
    names = _resource_names(problem)
    for session in sessions.values():
        violations += _session_rules(problem, session, names)
    violations += _double_bookings(sessions.values(), names)
    violations += _order_and_spacing(problem, sessions)
    violations += _links(problem, kinds, sessions)
    violations += _same_clinician(problem, sessions, names)
    return violations


def measure(problem: PlanProblem, placements: Iterable[Placement]) -> dict[str, int]:
    """The objective's levels for a valid placement: sessions placed, and the quality cost with its parts."""
    kinds = {kind.key: kind for kind in problem.kinds}
    placed = [p for p in placements if p.kind in kinds]
    preferred = normalize(problem.preferred)
    parts = {
        "extra_clinician_for_a_kind": sum(
            max(0, len({p.clinician for p in placed if p.kind == kind.key}) - 1)
            for kind in problem.kinds if kind.same_clinician != SameClinician.NONE),
        "not_previous_clinician": sum(
            p.clinician != problem.last_clinician for p in placed
            if problem.last_clinician in {c.id for c in kinds[p.kind].clinicians}),
        "not_preferred_time": sum(
            not contains(preferred, p.start, p.start + kinds[p.kind].duration) for p in placed) if preferred else 0,
        "day_from_start": sum(problem.day_of(p.start) for p in placed),
    }
    return {"placed": len(placed), "quality": sum(WEIGHTS[name] * value for name, value in parts.items()), **parts}


def _label(kind_name: str, index: int) -> str:
    return f"{kind_name} #{index + 1}"


def _when(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _known_sessions(
    kinds: dict[str, SessionKind], placements: Iterable[Placement], violations: list[Violation]
) -> dict[tuple[str, int], _Session]:
    """The placements the other rules can judge; the rest are reported here and judged no further."""
    sessions: dict[tuple[str, int], _Session] = {}
    for placement in placements:
        kind = kinds.get(placement.kind)
        if kind is None:
            violations.append(Violation(
                "unknown_kind", f"{_label(placement.kind, placement.index)} is not a session kind of this plan"))
        elif not 0 <= placement.index < kind.count:
            violations.append(Violation(
                "index_out_of_range",
                f"{_label(kind.name, placement.index)} is placed but the plan has {kind.count} {kind.name} session(s)"))
        elif (kind.key, placement.index) in sessions:
            violations.append(Violation(
                "placed_twice", f"{_label(kind.name, placement.index)} is placed more than once"))
        else:
            sessions[kind.key, placement.index] = _Session(kind, placement)
    return sessions


def _resource_names(problem: PlanProblem) -> Names:
    """Names by (role, id), so a message can name a clinician even where the kind does not list them."""
    names: Names = {}
    for kind in problem.kinds:
        names |= {("clinician", c.id): c.name for c in kind.clinicians}
        names |= {("room", r.id): r.name for r in kind.rooms}
        names |= {("device", u.id): u.name for pool in kind.devices for u in pool.units}
    return names


def _name(names: Names, role: str, ident: int) -> str:
    return names.get((role, ident), f"{role} {ident}")


def _session_rules(problem: PlanProblem, session: _Session, names: Names) -> list[Violation]:
    """The rules one session must keep on its own: grid, opening hours, patient, and its resources."""
    kind, placement, label = session.kind, session.placement, session.label
    when = _when(session.start)
    found = []
    if (session.start - problem.grid_origin) % problem.grid != 0:
        found.append(Violation("off_grid", f"{label} at {when} is not on the {problem.grid}-minute slot grid"))
    if not contains(normalize(problem.allowed), session.start, session.end):
        found.append(Violation(
            "outside_allowed",
            f"{label} at {when} falls outside the opening hours, the patient's available times or the plan's dates"))
    if not contains(normalize(problem.patient_free), session.start, session.end):
        found.append(Violation("patient_unavailable", f"the patient has another appointment during {label} at {when}"))

    clinician = _candidate(kind.clinicians, placement.clinician)
    if clinician is None:
        found.append(Violation(
            "clinician_not_eligible",
            f"{_name(names, 'clinician', placement.clinician)} may not give {label} (not certified or not eligible)"))
    elif not contains(normalize(clinician.free), *blocked(kind, session.start)):
        found.append(Violation("clinician_unavailable", f"{clinician.name} is not free for {label} at {when}"))

    found += _room_rules(session, names)
    found += _device_rules(session, names)
    return found


def _candidate(candidates: tuple[Candidate, ...], ident: int) -> Candidate | None:
    return next((c for c in candidates if c.id == ident), None)


def _room_rules(session: _Session, names: Names) -> list[Violation]:
    kind, room_id, label = session.kind, session.placement.room, session.label
    if not kind.needs_room:
        if room_id is None:
            return []
        return [Violation("room_not_needed", f"{label} needs no room but holds {_name(names, 'room', room_id)}")]
    if room_id is None:
        return [Violation("room_missing", f"{label} needs a room and has none")]
    room = _candidate(kind.rooms, room_id)
    if room is None:
        return [Violation("room_not_eligible", f"{_name(names, 'room', room_id)} is not suitable for {label}")]
    if not contains(normalize(room.free), *blocked(kind, session.start)):
        return [Violation("room_unavailable", f"{room.name} is not free for {label} at {_when(session.start)}")]
    return []


def _device_rules(session: _Session, names: Names) -> list[Violation]:
    """Each pool gets exactly its count of distinct suitable units, each free through its own cleaning."""
    kind, listed, label = session.kind, session.placement.devices, session.label
    found = [
        Violation("device_reused", f"{_name(names, 'device', unit)} is used {times} times in {label}")
        for unit, times in Counter(listed).items() if times > 1
    ]
    suitable: set[int] = set()
    for pool in kind.devices:
        chosen = [unit for unit in pool.units if unit.id in listed]
        suitable |= {unit.id for unit in pool.units}
        if len(chosen) != pool.count:
            found.append(Violation(
                "device_count", f"{label} needs {pool.count} {pool.type_name} unit(s) and has {len(chosen)}"))
        found += [
            Violation("device_unavailable",
                      f"{unit.name} is not free for {label} at {_when(session.start)} (cleaning included)")
            for unit in chosen if not contains(normalize(unit.free), *blocked(kind, session.start, unit.cleaning))
        ]
    found += [
        Violation("device_not_eligible", f"{_name(names, 'device', unit)} is not a device {label} can use")
        for unit in dict.fromkeys(listed) if unit not in suitable
    ]
    return found


def _double_bookings(sessions: Iterable[_Session], names: Names) -> list[Violation]:
    """Sessions of this plan that hold the patient, a clinician, a room or a device unit at the same time.

    Staff and rooms are held for the buffers too, device units also for their
    cleaning, and the patient only for the session itself. An empty span
    holds nothing.
    """
    held: dict[tuple[str, int], list[tuple[Interval, str]]] = {}
    for session in sessions:
        kind, placement, label = session.kind, session.placement, session.label
        held.setdefault(("patient", 0), []).append(((session.start, session.end), label))
        held.setdefault(("clinician", placement.clinician), []).append((blocked(kind, session.start), label))
        if placement.room is not None:
            held.setdefault(("room", placement.room), []).append((blocked(kind, session.start), label))
        cleaning = {unit.id: unit.cleaning for pool in kind.devices for unit in pool.units}
        for unit in dict.fromkeys(placement.devices):
            span = blocked(kind, session.start, cleaning.get(unit, 0))
            held.setdefault(("device", unit), []).append((span, label))

    found = []
    for (role, ident), spans in held.items():
        spans.sort()
        latest: tuple[Interval, str] | None = None
        for span, label in spans:
            if span[0] >= span[1]:
                continue
            if latest is not None and span[0] < latest[0][1]:
                if role == "patient":
                    message = f"the patient would be in {latest[1]} and {label} at once"
                else:
                    message = f"{_name(names, role, ident)} is booked for {latest[1]} and {label} at once"
                found.append(Violation(f"{role}_double_booked", message))
            if latest is None or span[1] > latest[0][1]:
                latest = (span, label)
    return found


def _order_and_spacing(problem: PlanProblem, sessions: dict[tuple[str, int], _Session]) -> list[Violation]:
    """Sessions of a kind happen in their order, one after the other, the plan's days and hours apart."""
    found = []
    for kind in problem.kinds:
        for index in range(1, kind.count):
            earlier, later = sessions.get((kind.key, index - 1)), sessions.get((kind.key, index))
            if later is None:
                continue
            if earlier is None:
                found.append(Violation(
                    "out_of_order", f"{later.label} is placed out of order: {_label(kind.name, index - 1)} is not"))
                continue
            found += _spacing(problem, kind, earlier, later)
    return found


def _spacing(problem: PlanProblem, kind: SessionKind, earlier: _Session, later: _Session) -> list[Violation]:
    """Two consecutive sessions of a kind: in order, the plan's days and hours apart. Days are local calendar days
    between the two starts; hours are the time elapsed from one start to the next."""
    found = []
    if later.start < earlier.end:
        found.append(Violation(
            "starts_before_previous_ends", f"{later.label} starts before {earlier.label} has ended"))
    gap = problem.day_of(later.start) - problem.day_of(earlier.start)
    if kind.min_gap_days is not None and gap < kind.min_gap_days:
        found.append(Violation(
            "too_soon",
            f"{later.label} is {gap} day(s) after {earlier.label}; the plan asks for at least {kind.min_gap_days}"))
    if kind.max_gap_days is not None and gap > kind.max_gap_days:
        found.append(Violation(
            "too_late",
            f"{later.label} is {gap} day(s) after {earlier.label}; the plan asks for at most {kind.max_gap_days}"))
    return found + _hours_apart(kind, earlier, later)


def move_breaks(problem: PlanProblem, placements: Iterable[Placement], moved: tuple[str, int]) -> list[Violation]:
    """The plan's own rules that session ``moved`` (kind, index), at its place in ``placements``, breaks: its
    dates, the patient's windows, blackouts and the opening hours (``allowed``), the order and spacing with the
    sessions of its kind just before and after it, and its links to placed sessions of other kinds.

    For a session moved after the plan was booked: sessions not in ``placements`` (cancelled, not placed yet)
    are no fault of the move, and resources, the patient's other appointments and the grid are the booking's
    to check."""
    kinds = {kind.key: kind for kind in problem.kinds}
    sessions = _known_sessions(kinds, placements, [])
    session = sessions[moved]
    kind, index = session.kind, moved[1]
    found = []
    if not contains(normalize(problem.allowed), session.start, session.end):
        found.append(Violation(
            "outside_allowed", f"{session.label} would fall outside the plan's dates, the patient's available "
                               "times, its blackout days or the opening hours"))
    for earlier, later in ((sessions.get((kind.key, index - 1)), session),
                           (session, sessions.get((kind.key, index + 1)))):
        if earlier is not None and later is not None:
            found += _spacing(problem, kind, earlier, later)
    for link in problem.same_visits:
        if moved[0] in (link.first, link.then):
            leader, follower = sessions.get((link.first, index)), sessions.get((link.then, index))
            if leader is not None and follower is not None and follower.start != leader.end:
                found.append(Violation("same_visit_not_back_to_back",
                                       f"{follower.label} would not start when {leader.label} ends (one visit)"))
    for link in problem.befores:
        others = [other for (key, _), other in sorted(sessions.items()) if key in (link.first, link.then)]
        if moved[0] == link.first:
            found += [Violation("before_not_finished", f"{then.label} would start before {session.label} has ended")
                      for then in others if then.kind.key == link.then and then.start < session.end]
        if moved[0] == link.then:
            found += [Violation("before_not_finished", f"{session.label} would start before {first.label} has ended")
                      for first in others if first.kind.key == link.first and session.start < first.end]
    return found


def _hours_apart(kind: SessionKind, earlier: _Session, later: _Session) -> list[Violation]:
    elapsed = later.start - earlier.start
    said = f"{later.label} starts {_duration(elapsed)} after {earlier.label}"
    found = []
    if kind.min_gap_hours is not None and elapsed < 60 * kind.min_gap_hours:
        found.append(Violation("too_soon_hours", f"{said}; the plan asks for at least {kind.min_gap_hours} h"))
    if kind.max_gap_hours is not None and elapsed > 60 * kind.max_gap_hours:
        found.append(Violation("too_late_hours", f"{said}; the plan asks for at most {kind.max_gap_hours} h"))
    return found


def _duration(minutes: int) -> str:
    sign = "-" if minutes < 0 else ""
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours} h {rest} min" if rest else f"{sign}{hours} h"


def _links(
    problem: PlanProblem, kinds: dict[str, SessionKind], sessions: dict[tuple[str, int], _Session]
) -> list[Violation]:
    """Same-visit pairs follow each other without a gap; diagnosis-first kinds are complete and over first."""
    found = []
    for link in (*problem.same_visits, *problem.befores):
        unknown = [key for key in (link.first, link.then) if key not in kinds]
        if unknown:
            found.append(Violation("unknown_kind", f"the plan links {link.first} and {link.then}, "
                                                   f"but has no session kind {unknown[0]}"))
    for link in problem.same_visits:
        first, then = kinds.get(link.first), kinds.get(link.then)
        if first is None or then is None:
            continue
        for index in range(min(first.count, then.count)):
            follower, leader = sessions.get((then.key, index)), sessions.get((first.key, index))
            if follower is None:
                continue
            if leader is None:
                found.append(Violation(
                    "same_visit_without_first",
                    f"{follower.label} is placed without {_label(first.name, index)}, which it must directly follow"))
            elif follower.start != leader.end:
                found.append(Violation(
                    "same_visit_not_back_to_back",
                    f"{follower.label} at {_when(follower.start)} does not start when {leader.label} ends "
                    f"at {_when(leader.end)}"))
    for link in problem.befores:
        first, then = kinds.get(link.first), kinds.get(link.then)
        if first is None or then is None:
            continue
        followers = [s for index in range(then.count) if (s := sessions.get((then.key, index)))]
        if not followers:
            continue
        leaders = [sessions.get((first.key, index)) for index in range(first.count)]
        missing = [index for index, leader in enumerate(leaders) if leader is None]
        if missing:
            found.append(Violation(
                "before_first_incomplete",
                f"{followers[0].label} is placed but {_label(first.name, missing[0])} is not, and every "
                f"{first.name} session must come first"))
        placed = [leader for leader in leaders if leader is not None]
        if placed:
            last, earliest = max(placed, key=lambda s: s.end), min(followers, key=lambda s: s.start)
            if last.end > earliest.start:
                found.append(Violation(
                    "before_not_finished", f"{earliest.label} starts before {last.label} has ended"))
    return found


def _same_clinician(problem: PlanProblem, sessions: dict[tuple[str, int], _Session], names: Names) -> list[Violation]:
    found = []
    for kind in problem.kinds:
        if kind.same_clinician != SameClinician.REQUIRED:
            continue
        placed = [s for index in range(kind.count) if (s := sessions.get((kind.key, index)))]
        for session in placed[1:]:
            if session.placement.clinician != placed[0].placement.clinician:
                found.append(Violation(
                    "clinician_changed",
                    f"{session.label} is with {_name(names, 'clinician', session.placement.clinician)}, but every "
                    f"{kind.name} session must be with the same clinician as {placed[0].label} "
                    f"({_name(names, 'clinician', placed[0].placement.clinician)})"))
    return found
