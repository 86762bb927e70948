"""What the night's sessions could each do, worked out once and shared by the model, the unit colouring and the bound.

Identical rooms and device units are one *class*: units that serve exactly
the same services' needs with the same cleaning time. The model then asks
"how many units of this class are in use at once" (a cumulative, a
NoOverlap where the class has one unit) instead of choosing a unit, which
removes the symmetry between identical units and most of the literals; the
concrete unit is chosen afterwards (``night_units``). A unit's own down time
(maintenance, other appointments) stays in the class as fixed blocks, and a
session may use a class only at starts where one of its units is free for
the whole span, so the colouring nearly always succeeds; when it does not,
the answer is refused and the search keeps the previous one.

A booked session whose current resources are no longer "free" by the
catalog (a shift shortened after it was booked) is *pinned*: the night
keeps it exactly as it is, since the clinic promised it.
"""

from dataclasses import dataclass, field, replace

from solver.intervals import Intervals, at_least, contains, intersect, normalize, starts_fitting, subtract, union
from solver.night_problem import DAY, BookedSession, NightProblem, WaitingSession
from solver.plans import Candidate, Placement, SessionKind, blocked

Need = tuple[str, str]
"""("room", "room") or ("device", type name): one need of a session for units of a class."""


@dataclass(frozen=True)
class UnitClass:
    """Interchangeable rooms or device units; ``units`` by id, with their free time as the catalog gives it."""

    ident: int
    role: str
    cleaning: int
    units: tuple[Candidate, ...]

    @property
    def size(self) -> int:
        return len(self.units)


@dataclass
class Option:
    """One way to serve one need, a clinician or units of a class: the starts it allows and the span it holds."""

    starts: Intervals
    span_before: int
    span_after: int


@dataclass
class SessionInfo:
    """One session of the night, booked or waiting, and its options per need."""

    key: str
    patient: int
    kind: SessionKind
    starts: Intervals
    booked: BookedSession | None = None
    waiting: WaitingSession | None = None
    pinned: bool = False
    clinicians: dict[int, Option] = field(default_factory=dict)
    needs: dict[Need, tuple[int, dict[int, Option]]] = field(default_factory=dict)
    """need -> (units needed, class id -> option)."""

    @property
    def priority(self) -> int:
        return self.waiting.priority if self.waiting is not None else 0


class NightIndex:
    """The sessions of a night with their options, the unit classes, and the spacing and team ties."""

    def __init__(self, problem: NightProblem):
        self.problem = problem
        self.classes: list[UnitClass] = []
        self.class_of: dict[tuple[str, int], int] = {}
        self._fitting: dict[tuple, Intervals] = {}
        self._make_classes()
        self.sessions: dict[str, SessionInfo] = {}
        for booked in problem.booked:
            self.sessions[str(booked.id)] = self._booked(booked)
        for waiting in problem.waiting:
            self.sessions[waiting.key] = self._waiting(waiting)
        self.spacing_after = {rule.earlier: [] for rule in problem.spacings}
        self.spacing_before = {}
        for rule in problem.spacings:
            self.spacing_after[rule.earlier].append(rule)
            self.spacing_before[rule.later] = rule
        self.teams: dict[str, list[str]] = {}
        for waiting in problem.waiting:
            if waiting.team is not None:
                self.teams.setdefault(waiting.team, []).append(waiting.key)
        self._blocks: dict[int, list[tuple[int, int]]] = {}
        self._pinned_spans: dict[tuple[str, int], Intervals] = {}
        for info in self.sessions.values():
            if info.pinned:
                self._pin(info)
        starts = [low for info in self.sessions.values() for low, _ in info.starts[:1]]
        ends = [info.starts[-1][1] for info in self.sessions.values() if info.starts]
        self.horizon = (min(starts, default=0) - DAY, max(ends, default=0) + 2 * DAY)
        self.first_day = problem.first_day()

    # --- classes -----------------------------------------------------------------------

    def _make_classes(self) -> None:
        uses: dict[tuple[str, int], set] = {}
        units: dict[tuple[str, int], Candidate] = {}
        for kind in self._kinds():
            held = [("room", room, "room") for room in (kind.rooms if kind.needs_room else ())]
            held += [("device", unit, pool.type_name) for pool in kind.devices for unit in pool.units]
            for role, unit, need in held:
                uses.setdefault((role, unit.id), set()).add((kind.key, need))
                known = units.get((role, unit.id))  # free as the most generous service sees it: the cumulative
                units[role, unit.id] = replace(known or unit, free=union(known.free if known else [], unit.free))
        groups: dict[tuple, list[Candidate]] = {}
        for (role, ident), candidate in sorted(units.items()):
            groups.setdefault((role, frozenset(uses[role, ident]), candidate.cleaning if role == "device" else 0),
                              []).append(candidate)
        for (role, _, cleaning), members in groups.items():
            unit_class = UnitClass(len(self.classes), role, cleaning, tuple(members))
            self.classes.append(unit_class)
            for member in members:
                self.class_of[role, member.id] = unit_class.ident

    def _kinds(self) -> list[SessionKind]:
        """Each kind once: sessions of one service usually share their kind, and there are thousands of sessions."""
        kinds = {id(s.kind): s.kind for s in self.problem.booked} | {id(w.kind): w.kind for w in self.problem.waiting}
        return list(kinds.values())

    def class_blocks(self, unit_class: UnitClass) -> list[tuple[int, int]]:
        """Each unit's time out of service within the horizon, less what pinned sessions hold on it (they count
        as sessions of their own)."""
        if unit_class.ident not in self._blocks:
            low, high = self.horizon
            blocks = []
            for unit in unit_class.units:
                free = union(unit.free, self._pinned_spans.get((unit_class.role, unit.id), []))
                blocks += subtract([(low, high)], free)
            self._blocks[unit_class.ident] = blocks
        return self._blocks[unit_class.ident]

    def classes_used(self, placement: Placement) -> dict[int, int]:
        """How many of a placement's room and device units each unit class gives."""
        used = [("room", placement.room)] if placement.room is not None else []
        used += [("device", unit) for unit in placement.devices]
        counts: dict[int, int] = {}
        for role, unit in used:
            if (role, unit) in self.class_of:
                counts[self.class_of[role, unit]] = counts.get(self.class_of[role, unit], 0) + 1
        return counts

    def _pin(self, info: SessionInfo) -> None:
        kind, current = info.kind, info.booked.current
        cleaning = {unit.id: unit.cleaning for pool in kind.devices for unit in pool.units}
        held = [("room", current.room, 0)] if current.room is not None else []
        held += [("device", unit, cleaning.get(unit, 0)) for unit in current.devices]
        for role, unit, extra in held:
            spans = self._pinned_spans.setdefault((role, unit), [])
            spans[:] = union(spans, [blocked(kind, current.start, extra)])

    # --- sessions ----------------------------------------------------------------------

    def _booked(self, booked: BookedSession) -> SessionInfo:
        starts = union([(booked.start, booked.start + 1)], list(booked.may_start))
        info = SessionInfo(str(booked.id), booked.patient, booked.kind, starts, booked=booked)
        info.pinned = not self._current_fits(booked)
        if info.pinned:  # kept as it is: never a variable of the model
            info.starts = [(booked.start, booked.start + 1)]
        else:
            self._options(info)
        return info

    def _waiting(self, waiting: WaitingSession) -> SessionInfo:
        info = SessionInfo(waiting.key, waiting.patient, waiting.kind, normalize(waiting.starts), waiting=waiting)
        self._options(info)
        return info

    def _current_fits(self, booked: BookedSession) -> bool:
        kind, current = booked.kind, booked.current
        clinician = next((c for c in kind.clinicians if c.id == current.clinician), None)
        if clinician is None or not contains(clinician.free, *blocked(kind, booked.start)):
            return False
        if kind.needs_room:
            room = next((r for r in kind.rooms if r.id == current.room), None)
            if room is None or not contains(room.free, *blocked(kind, booked.start)):
                return False
        units = {unit.id: unit for pool in kind.devices for unit in pool.units}
        return all(unit in units and contains(units[unit].free, *blocked(kind, booked.start, units[unit].cleaning))
                   for unit in current.devices)

    def _options(self, info: SessionInfo) -> None:
        kind, booked = info.kind, info.booked
        before, after = kind.buffer_before, kind.duration + kind.buffer_after
        for clinician in kind.clinicians:
            if booked is not None and booked.keep_clinician and clinician.id != booked.current.clinician:
                continue
            fit = self._fit(info, [clinician], before, after)
            if fit:
                info.clinicians[clinician.id] = Option(fit, before, after)
        if kind.needs_room:
            info.needs["room", "room"] = (1, self._class_options(info, "room", kind.rooms, 1, before, after))
        for pool in kind.devices:
            info.needs["device", pool.type_name] = (
                pool.count, self._class_options(info, "device", pool.units, pool.count, before, after))

    def _class_options(self, info: SessionInfo, role: str, candidates, count: int, before: int,
                       after: int) -> dict[int, Option]:
        by_class: dict[int, list[Candidate]] = {}
        for candidate in candidates:
            by_class.setdefault(self.class_of[role, candidate.id], []).append(candidate)
        options = {}
        for ident, members in by_class.items():
            cleaning = self.classes[ident].cleaning
            fit = self._fit(info, members, before, after + cleaning)  # how many, the model and colouring decide
            if fit:
                options[ident] = Option(fit, before, after + cleaning)
        return options

    def _fit(self, info: SessionInfo, candidates, before: int, after: int) -> Intervals:
        """Starts of ``info`` at which one of ``candidates`` is free for the whole span. Where a candidate could
        serve a span is worked out once per candidate and span (by identity: the problem holds the candidates)
        and shared by every session of that span; at 3,000 sessions that was most of the index's time."""
        key = (tuple(id(c) for c in candidates), before, after)
        if key not in self._fitting:
            self._fitting[key] = at_least([starts_fitting(c.free, before, after) for c in candidates], 1)
        return intersect(info.starts, self._fitting[key])
