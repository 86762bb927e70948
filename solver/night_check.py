"""The independent checker of a night's answer, and what an answer is worth, counted without any model.

``check_night`` is the gate before anything the solver produced is written
(docs/design.md, invariant 3): it shares no code with the CP-SAT model, so a bug in
the model cannot hide in its own check. ``measure`` counts each level of the
lexicographic objective from the placements alone; the search compares
answers with it and the benchmark reports it.
"""

from collections.abc import Iterable

from solver.intervals import contains
from solver.night_problem import NightProblem, ReplanSolution
from solver.plans import Candidate, Placement, SessionKind, blocked

QUALITY_WEIGHTS = {
    "extra_clinician_for_a_patient": 1_000,
    "busiest_clinician_minute": 5,
    "clinician_day_span_minute": 1,
    "moved_session": 50,
    "changed_resource": 2,
}
"""The third level, one weighted sum: a patient seeing one more clinician for a service outweighs an hour of
anyone's day; balance (the busiest clinician's minutes) counts more than the span of each working day; moving a
promised time costs more than handing a session to another clinician, room or unit."""


def fits(kind: SessionKind, start: int, candidate: Candidate, cleaning: bool) -> bool:
    return contains(candidate.free, *blocked(kind, start, candidate.cleaning if cleaning else 0))


def measure(problem: NightProblem, placements: Iterable[Placement]) -> dict[str, int]:
    """Each level's value and the quality level's parts, for a complete answer (booked sessions all placed)."""
    placed = {p.kind: p for p in placements}
    seen, loads, days = set(), {}, {}
    moved = changed = points = count = sooner = 0
    first_day = problem.first_day()

    def served(patient: int, kind: SessionKind, placement: Placement) -> None:
        seen.add((patient, kind.key, placement.clinician))
        loads[placement.clinician] = loads.get(placement.clinician, 0) + kind.duration
        low, high = blocked(kind, placement.start)
        key = (placement.clinician, problem.day_of(placement.start))
        known = days.get(key, (low, high))
        days[key] = (min(known[0], low), max(known[1], high))

    for session in problem.booked:
        placement = placed[str(session.id)]
        served(session.patient, session.kind, placement)
        moved += placement.start != session.start
        changed += (placement.clinician != session.current.clinician) + (placement.room != session.current.room)
        changed += len(set(placement.devices) - set(session.current.devices))
    for waiting in problem.waiting:
        if waiting.key in placed:
            served(waiting.patient, waiting.kind, placed[waiting.key])
            points += waiting.priority
            count += 1
            sooner += problem.day_of(placed[waiting.key].start) - first_day
    parts = {"extra_clinician_for_a_patient": len(seen), "busiest_clinician_minute": max(loads.values(), default=0),
             "clinician_day_span_minute": sum(high - low for low, high in days.values()),
             "moved_session": moved, "changed_resource": changed}
    quality = sum(QUALITY_WEIGHTS[name] * value for name, value in parts.items())
    return {"placed": points, "placed_sessions": count, "sooner": sooner, "quality": quality, **parts}


def better(problem: NightProblem, a: Iterable[Placement], b: Iterable[Placement]) -> bool:
    """Whether answer ``a`` beats ``b`` lexicographically: more points placed, then sooner, then quality."""
    first, second = measure(problem, a), measure(problem, b)
    return (-first["placed"], first["sooner"], first["quality"]) < (-second["placed"], second["sooner"],
                                                                     second["quality"])


def check_problem(problem: NightProblem) -> list[str]:
    """What makes a night unsolvable as given, as messages (empty when it is well formed).

    The solver takes a night from any caller, not only from ``scheduler.night``: a key given twice, a rule naming
    a session that is not there, a zero grid, or a schedule as booked that breaks the rules itself (a clinician
    in two booked sessions at once, a booked session served by someone its kind does not list) made it crash deep
    inside or answer with a night its own check refused. A session the catalog changed under is described as
    booked (its kind lists what serves it now), as ``scheduler.as_booked`` does.
    """
    problems = [] if problem.grid >= 1 else [f"the grid is {problem.grid} minutes; it must be at least 1"]
    problems += [] if all(a < b for a, b in zip(problem.day_starts, problem.day_starts[1:])) else [
        "day_starts are not in increasing order"]
    keys = [str(b.id) for b in problem.booked] + [w.key for w in problem.waiting]
    problems += [f"session {key} is given twice (booked ids and waiting keys share one namespace)"
                 for key in sorted({key for key in keys if keys.count(key) > 1})] if len(set(keys)) < len(keys) else []
    kinds = {id(b.kind): b.kind for b in problem.booked} | {id(w.kind): w.kind for w in problem.waiting}
    for kind in kinds.values():
        problems += _kind_problems(kind)
    for waiting in problem.waiting:
        if waiting.priority < 1:
            problems.append(f"session {waiting.key} has priority {waiting.priority}; priorities start at 1")
        if any(low >= high for low, high in waiting.starts):
            problems.append(f"session {waiting.key} has an empty or reversed span of starts")
    waiting_keys, later = {w.key for w in problem.waiting}, set()
    for rule in problem.spacings:
        problems += [f"a spacing rule names {key}, which is not a waiting session of the night"
                     for key in (rule.earlier, rule.later) if key not in waiting_keys]
        if rule.earlier == rule.later or rule.later in later:
            problems.append(f"session {rule.later} is the later session of more than one spacing rule, or of itself")
        later.add(rule.later)
        for low, high, unit in ((rule.min_days, rule.max_days, "days"), (rule.min_hours, rule.max_hours, "hours")):
            if (low is not None and low < 0) or (high is not None and (high < 0 or (low is not None and high < low))):
                problems.append(f"the spacing before {rule.later} allows no gap in {unit} ({low} to {high})")
    for booked in problem.booked:
        if booked.current.kind != str(booked.id) or booked.current.start != booked.start:
            problems.append(f"booked session {booked.id}: its current placement is not its own (kind "
                            f"{booked.current.kind!r}, start {booked.current.start})")
    if problems:
        return problems
    as_booked = ReplanSolution(tuple(b.current for b in problem.booked), "as booked")
    return [f"the schedule as booked breaks a rule: {problem}" for problem in check_night(problem, as_booked)]


def _kind_problems(kind: SessionKind) -> list[str]:
    problems = [] if kind.duration > 0 else [f"{kind.name} lasts {kind.duration} minutes"]
    if min(kind.buffer_before, kind.buffer_after, *(u.cleaning for p in kind.devices for u in p.units)) < 0:
        problems.append(f"{kind.name} has a negative buffer or cleaning time")
    names = [pool.type_name for pool in kind.devices]
    problems += [f"{kind.name} needs {pool.count} {pool.type_name} units" for pool in kind.devices if pool.count < 1]
    if len(set(names)) < len(names):
        problems.append(f"{kind.name} names a device pool twice")
    return problems


def check_night(problem: NightProblem, solution: ReplanSolution) -> list[str]:
    """Every rule a night's answer must keep, as messages (empty when it keeps them all)."""
    problems: list[str] = []
    placed: dict[str, Placement] = {}
    for placement in solution.placements:
        if placement.kind in placed:
            problems.append(f"session {placement.kind} is placed twice")
        placed[placement.kind] = placement
    known = {str(s.id) for s in problem.booked} | {w.key for w in problem.waiting}
    problems += [f"session {key} is not part of the night" for key in placed.keys() - known]
    used: dict[tuple[str, int], list[tuple[int, int]]] = {}
    patients: dict[int, list[tuple[int, int]]] = {}
    for session in problem.booked:
        placement = placed.get(str(session.id))
        if placement is None:
            problems.append(f"booked session {session.id} lost its place")
            continue
        if placement.start != session.start and not (
                contains(session.may_start, placement.start, placement.start + 1) and problem.on_grid(placement.start)):
            problems.append(f"session {session.id} was moved")
        if session.keep_clinician and placement.clinician != session.current.clinician:
            problems.append(f"session {session.id} changed clinician although continuity requires the same one")
        problems += _served(str(session.id), session.kind, placement, used, session.current)
        patients.setdefault(session.patient, []).append((placement.start, placement.start + session.kind.duration))
    teams: dict[str, set[int]] = {}
    for waiting in problem.waiting:
        placement = placed.get(waiting.key)
        if placement is None:
            continue
        if not contains(waiting.starts, placement.start, placement.start + 1) or not problem.on_grid(placement.start):
            problems.append(f"session {waiting.key} starts outside its allowed times")
        problems += _served(waiting.key, waiting.kind, placement, used, None)
        patients.setdefault(waiting.patient, []).append((placement.start, placement.start + waiting.kind.duration))
        if waiting.team is not None:
            teams.setdefault(waiting.team, set()).add(placement.clinician)
    problems += [f"sessions of {team} have different clinicians" for team, ids in teams.items() if len(ids) > 1]
    problems += _spacing_broken(problem, placed)
    for (role, ident), spans in used.items():
        if _overlapping(spans):
            problems.append(f"{role} {ident} serves two sessions at once")
    problems += [f"patient {patient} is in two sessions at once" for patient, spans in patients.items()
                 if _overlapping(spans)]
    return problems


def _served(key: str, kind: SessionKind, placement: Placement, used: dict, current: Placement | None) -> list[str]:
    """The session's clinician, room and units are eligible and free then; their spans are noted in ``used``.

    A booked session that keeps its time may keep what serves it now even where that is no longer "free"
    (a shift shortened after it was booked): the clinic promised it, the night does not undo it.
    """
    problems = []
    units = {unit.id: unit for pool in kind.devices for unit in pool.units}
    kept = {} if current is None or placement.start != current.start else {
        "clinician": {current.clinician}, "room": {current.room}, "device": set(current.devices)}
    roles = [("clinician", {c.id: c for c in kind.clinicians}.get(placement.clinician), False, placement.clinician)]
    if kind.needs_room:
        roles.append(("room", {r.id: r for r in kind.rooms}.get(placement.room), False, placement.room))
    elif placement.room is not None:
        problems.append(f"session {key} has a room it does not need")
    if len(placement.devices) != sum(pool.count for pool in kind.devices):
        problems.append(f"session {key} has the wrong number of device units")
    for pool in kind.devices:
        if sum(unit in {u.id for u in pool.units} for unit in placement.devices) != pool.count:
            problems.append(f"session {key} does not have {pool.count} {pool.type_name} unit(s)")
    roles += [("device", units.get(unit), True, unit) for unit in placement.devices]
    for role, candidate, cleaning, ident in roles:
        if candidate is None:
            problems.append(f"session {key}: its {role} {ident} is not eligible")
            continue
        if ident not in kept.get(role, ()) and not fits(kind, placement.start, candidate, cleaning):
            problems.append(f"session {key}: {candidate.name} is not free then")
        used.setdefault((role, ident), []).append(blocked(kind, placement.start, candidate.cleaning if cleaning else 0))
    return problems


def _spacing_broken(problem: NightProblem, placed: dict[str, Placement]) -> list[str]:
    problems = []
    kinds = {w.key: w.kind for w in problem.waiting}
    for rule in problem.spacings:
        later, earlier = placed.get(rule.later), placed.get(rule.earlier)
        if later is None:
            continue
        if earlier is None:
            problems.append(f"session {rule.later} is placed but {rule.earlier} before it is not")
            continue
        if later.start < earlier.start + kinds[rule.earlier].duration:
            problems.append(f"session {rule.later} starts before {rule.earlier} ends")
        days = problem.day_of(later.start) - problem.day_of(earlier.start)
        if (rule.min_days is not None and days < rule.min_days) or (rule.max_days is not None and days > rule.max_days):
            problems.append(f"session {rule.later} is {days} days after {rule.earlier}")
        minutes = later.start - earlier.start
        if (rule.min_hours is not None and minutes < rule.min_hours * 60) or (
                rule.max_hours is not None and minutes > rule.max_hours * 60):
            problems.append(f"session {rule.later} starts {minutes / 60:g} hours after {rule.earlier}")
    return problems


def _overlapping(spans: list[tuple[int, int]]) -> bool:
    spans = sorted(spans)
    return any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:]))
