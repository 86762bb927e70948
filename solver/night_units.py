"""Concrete rooms and device units for sessions whose model chose only a class of them.

Interval colouring: within a class, sessions in order of their start take
free units, a booked session its current unit first (fewer changes for the
staff to learn of). For identical units that never fails when the class's
cumulative holds; where units differ in their down time it may, and then a
small exact CP-SAT assignment of that class decides. Every unit is checked
against the session's own candidate (its free time and cleaning).
"""

import time

from ortools.sat.python import cp_model

from solver.night_check import fits
from solver.night_greedy import Book
from solver.night_index import NightIndex
from solver.night_model import Choice
from solver.night_problem import DAY
from solver.plans import Candidate, Placement, SessionKind, blocked


def assign_units(index: NightIndex, choices: list[Choice], fixed: dict[str, Placement]) -> list[Placement] | None:
    """Placements for ``choices`` with units that ``fixed`` placements leave free; None when no assignment exists.

    Units are first given in start order around the fixed placements' units; if that finds none, the fixed
    sessions of the same classes around the choices' times give theirs back and everything there is coloured
    again (keeping a session's unit where it can), in start order and, failing that, exactly; only if that fails
    too is the answer refused.
    """
    placements = _colour(index, choices, fixed, {}, exact=False)
    if placements is not None:
        return placements
    low = min((choice.start for choice in choices), default=0) - DAY
    high = max((choice.start for choice in choices), default=0) + DAY
    classes = {ident for choice in choices for per_class in choice.classes.values() for ident in per_class}
    around = {key: placement for key, placement in fixed.items()
              if low <= placement.start < high and not index.sessions[key].pinned
              and index.classes_used(placement).keys() & classes}
    again = [Choice(key, placement.start, placement.clinician, _classes_of(index, key, placement))
             for key, placement in around.items()]
    if any(choice.classes is None for choice in again):
        return None
    held = {key: placement for key, placement in fixed.items() if key not in around}
    coloured = _colour(index, choices + again, held, {key: _units(placement) for key, placement in around.items()},
                       exact=True)
    if coloured is None:
        return None
    kept = {p.kind: p for p in coloured}
    return [kept[choice.key] for choice in choices] + [kept[key] for key in around if kept[key] != around[key]]


BUILD_SECONDS = 3e-5
"""About how long writing the exact assignment's model takes per (session, unit it could take): demo's 2,000-session
night has a room class of 1,302 sessions, 0.47 s for its model and a 0.25 s solve (2026-12-01). A class is given
again only when the time left holds twice its writing."""


def keep_units(index: NightIndex, placements: list[Placement], until: float) -> list[Placement]:
    """The same sessions at the same times with the same clinicians, their rooms and units given again so that as
    many booked sessions as possible keep the ones they have now: per class, an exact assignment (CP-SAT, started
    from the units as they are) by ``until``, a ``time.perf_counter()`` time; a class not solved keeps its units.

    Units are coloured piece by piece during the search, in start order, and one session's move can hand its
    neighbours' rooms round in a chain (demo 600 at 80 % booked: 103 room changes among 480 booked sessions
    whose rooms are all of one class); the model does not see a change within a class, so the search cannot.
    """
    movable = [p for p in placements if not index.sessions[p.kind].pinned]
    choices = [Choice(p.kind, p.start, p.clinician, _classes_of(index, p.kind, p)) for p in movable]
    if any(choice.classes is None for choice in choices):
        return placements
    fixed = {p.kind: p for p in placements if index.sessions[p.kind].pinned}
    book = _book(index, fixed)
    now = {p.kind: _units(p) for p in movable}
    units: dict[str, list[tuple[str, int]]] = {key: sorted(held) for key, held in now.items()}
    for ident, wanted in _demands(index, choices).items():
        building = BUILD_SECONDS * sum(len(candidates) for _, _, candidates in wanted)
        seconds = until - time.perf_counter() - building
        if seconds < max(0.05, building):
            continue
        role = index.classes[ident].role
        chosen = _exactly(index, role, wanted, book, {}, seconds=min(seconds, 5.0), hint=now)
        if chosen is None:
            continue
        for choice, _, candidates in wanted:
            kept = [unit for unit in units[choice.key] if not (unit[0] == role and unit[1] in candidates)]
            units[choice.key] = kept + [(role, unit) for unit in chosen[choice.key]]
    return list(fixed.values()) + [_placed(choice, units[choice.key]) for choice in choices]


def _classes_of(index: NightIndex, key: str, placement: Placement) -> dict | None:
    """How many units each class gives each need of a placed session; None if a unit is of no class."""
    info = index.sessions[key]
    result = {}
    for need in info.needs:
        role, type_name = need
        if role == "room":
            units = [placement.room]
        else:
            pool = next(p for p in info.kind.devices if p.type_name == type_name)
            units = [u for u in placement.devices if u in {m.id for m in pool.units}]
        counts: dict[int, int] = {}
        for unit in units:
            if (role, unit) not in index.class_of:
                return None
            counts[index.class_of[role, unit]] = counts.get(index.class_of[role, unit], 0) + 1
        result[need] = counts
    return result


def _units(placement: Placement) -> set[tuple[str, int]]:
    """Rooms and device units by role: their ids are counted apart (room 2 is not device 2)."""
    return {("device", unit) for unit in placement.devices} | ({("room", placement.room)} if placement.room else set())


def _colour(index: NightIndex, choices: list[Choice], fixed: dict[str, Placement], prefer: dict[str, set[tuple[str, int]]], *,
            exact: bool) -> list[Placement] | None:
    book = _book(index, fixed)
    units: dict[str, list[tuple[str, int]]] = {choice.key: [] for choice in choices}
    for ident, wanted in _demands(index, choices).items():
        role = index.classes[ident].role
        chosen = _in_order(index, role, wanted, book, prefer)
        if chosen is None and exact:
            chosen = _exactly(index, role, wanted, book, prefer)
        if chosen is None:
            return None
        for key, picked in chosen.items():
            units[key] += [(role, unit) for unit in picked]
    return [_placed(choice, units[choice.key]) for choice in choices]


def _book(index: NightIndex, fixed: dict[str, Placement]) -> Book:
    """The rooms and units ``fixed`` placements hold."""
    book = Book()
    for key, placement in fixed.items():
        kind = index.sessions[key].kind
        for role, unit, cleaning in _held(kind, placement):
            book.take((role, unit), *blocked(kind, placement.start, cleaning))
    return book


def _demands(index: NightIndex, choices: list[Choice]) -> dict[int, list[tuple[Choice, int, dict[int, Candidate]]]]:
    """Per unit class: each choice that needs its units, how many, and which of them could serve it."""
    demands: dict[int, list[tuple[Choice, int, dict[int, Candidate]]]] = {}
    for choice in choices:
        kind = index.sessions[choice.key].kind
        for need, per_class in choice.classes.items():
            candidates = kind.rooms if need[0] == "room" else next(p.units for p in kind.devices if p.type_name == need[1])
            for ident, count in per_class.items():
                members = {unit.id for unit in index.classes[ident].units}
                demands.setdefault(ident, []).append((choice, count, {c.id: c for c in candidates if c.id in members}))
    return demands


def _placed(choice: Choice, units: list[tuple[str, int]]) -> Placement:
    return Placement(choice.key, 0, choice.start, choice.clinician,
                     next((unit for role, unit in units if role == "room"), None),
                     tuple(sorted(unit for role, unit in units if role == "device")))


def _held(kind: SessionKind, placement: Placement) -> list[tuple[str, int, int]]:
    cleaning = {unit.id: unit.cleaning for pool in kind.devices for unit in pool.units}
    held = [("room", placement.room, 0)] if placement.room is not None else []
    return held + [("device", unit, cleaning.get(unit, 0)) for unit in placement.devices]


def _current(index: NightIndex, key: str, prefer: dict[str, set[tuple[str, int]]]) -> set[tuple[str, int]]:
    """The units a session would rather keep: the ones it has (a fixed session coloured again), else its booked ones."""
    if key in prefer:
        return prefer[key]
    booked = index.sessions[key].booked
    return set() if booked is None else _units(booked.current)


def _in_order(index: NightIndex, role: str, wanted, book: Book, prefer) -> dict[str, list[int]] | None:
    """Each session in start order takes free units, its current one first; None if one finds too few."""
    chosen: dict[str, list[int]] = {}
    trial = Book()
    trial.spans = {key: list(spans) for key, spans in book.spans.items()}
    for choice, count, candidates in sorted(wanted, key=lambda w: (w[0].start, w[0].key)):
        kind = index.sessions[choice.key].kind
        current = _current(index, choice.key, prefer)
        picked = []
        for unit in sorted(candidates, key=lambda u: ((role, u) not in current, u)):
            span = blocked(kind, choice.start, candidates[unit].cleaning if role == "device" else 0)
            if fits(kind, choice.start, candidates[unit], role == "device") and trial.free((role, unit), *span):
                picked.append(unit)
                trial.take((role, unit), *span)
                if len(picked) == count:
                    break
        if len(picked) < count:
            return None
        chosen[choice.key] = picked
    return chosen


def _exactly(index: NightIndex, role: str, wanted, book: Book, prefer, *, seconds: float = 5.0,
             hint: dict[str, set[tuple[str, int]]] | None = None) -> dict[str, list[int]] | None:
    """An assignment of the class's units by CP-SAT that keeps as many current units as it can: when taking them
    in order did not find one, or (``keep_units``) to keep more; ``hint``: each session's units as they are."""
    model = cp_model.CpModel()
    per_unit: dict[int, list] = {}
    literals: dict[tuple[str, int], object] = {}
    for choice, count, candidates in wanted:
        kind = index.sessions[choice.key].kind
        mine = []
        for unit, candidate in candidates.items():
            low, high = blocked(kind, choice.start, candidate.cleaning if role == "device" else 0)
            if not fits(kind, choice.start, candidate, role == "device") or not book.free((role, unit), low, high):
                continue
            literal = literals[choice.key, unit] = model.NewBoolVar("")
            if hint is not None:
                model.AddHint(literal, (role, unit) in hint.get(choice.key, ()))
            per_unit.setdefault(unit, []).append(model.NewOptionalFixedSizeIntervalVar(low, high - low, literal, ""))
            mine.append(literal)
        model.Add(sum(mine) == count)
    for intervals in per_unit.values():
        model.AddNoOverlap(intervals)
    model.Maximize(sum(literal for (key, unit), literal in literals.items() if (role, unit) in _current(index, key, prefer)))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 1
    if solver.Solve(model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    chosen: dict[str, list[int]] = {}
    for (key, unit), literal in literals.items():
        if solver.BooleanValue(literal):
            chosen.setdefault(key, []).append(unit)
    return chosen
