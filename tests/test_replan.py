"""The nightly re-plan: who serves booked sessions, which waiting ones get a time; checked, never worse than the start."""

import time
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from solver.plan_model import Limits
from solver.plans import Candidate, DevicePool, Placement, SessionKind
from solver.night_check import check_night, measure
from solver.night_greedy import place_greedily
from solver.night_problem import BookedSession, NightProblem, ReplanSolution, Spacing, WaitingSession
from solver import replan as replan_module
from solver.replan import replan
from tests.test_plan_rules import at, daily

FAST = Limits(time_limit=2.0, workers=1)
ANNA, BEN = Candidate(1, "Anna", daily(8, 18)), Candidate(2, "Ben", daily(8, 18))
ROOM_1, ROOM_2 = Candidate(10, "Room 1", daily(0, 24)), Candidate(11, "Room 2", daily(0, 24))
UNIT = Candidate(20, "Shockwave", daily(0, 24), cleaning=10)
ESWT = SessionKind("eswt", "ESWT", count=1, duration=30, clinicians=(ANNA, BEN), needs_room=True,
                   rooms=(ROOM_1, ROOM_2), devices=(DevicePool("shockwave", 1, (UNIT,)),))


def booked(ident: int, patient: int, start: int, clinician: Candidate = ANNA, room: Candidate = ROOM_1,
           **extra) -> BookedSession:
    return BookedSession(ident, patient, ESWT, start, Placement(str(ident), 0, start, clinician.id, room.id, (20,)),
                         **extra)


def test_the_busiest_clinician_hands_sessions_over_and_times_stay():
    sessions = tuple(booked(n, patient=n, start=at(1, 9 + n)) for n in range(4))  # all with Anna
    solution = replan(NightProblem(sessions), FAST)
    assert check_night(NightProblem(sessions), solution) == []
    assert sorted(p.clinician for p in solution.placements) == [1, 1, 2, 2]
    assert [p.start for p in solution.placements] == [s.start for s in sessions]
    assert solution.status == "optimal" and solution.gap == 0 and solution.first_solution_seconds is not None
    assert [stage.name for stage in solution.stages] == ["placed", "sooner", "quality"]
    assert solution.stage("quality").value < solution.greedy["quality"]


def test_continuity_of_care_outweighs_balance():
    sessions = tuple(booked(n, patient=7, start=at(n, 9)) for n in range(3))  # one patient's course
    solution = replan(NightProblem(sessions), FAST)
    assert {p.clinician for p in solution.placements} == {ANNA.id}


def test_a_required_clinician_is_kept():
    sessions = tuple(booked(n, patient=n, start=at(1, 9 + n), keep_clinician=True) for n in range(3))
    assert {p.clinician for p in replan(NightProblem(sessions), FAST).placements} == {ANNA.id}


def test_nothing_changes_when_nothing_is_better():
    sessions = (booked(1, 1, at(1, 9)), booked(2, 2, at(1, 10), clinician=BEN))
    solution = replan(NightProblem(sessions), FAST)
    assert solution.placements == tuple(s.current for s in sessions)


def test_a_busy_candidate_is_not_used():
    busy_ben = replace(BEN, free=[(at(1, 12), at(1, 18))])
    kind = replace(ESWT, clinicians=(ANNA, busy_ben))
    sessions = tuple(replace(booked(n, n, at(1, 9 + n)), kind=kind) for n in range(2))
    solution = replan(NightProblem(sessions), FAST)
    assert {p.clinician for p in solution.placements} == {ANNA.id} and check_night(NightProblem(sessions), solution) == []


def test_the_checker_catches_a_moved_session_and_a_double_booking():
    sessions = (booked(1, 1, at(1, 9)), booked(2, 2, at(1, 9), clinician=BEN, room=ROOM_2))
    moved = ReplanSolution((replace(sessions[0].current, start=at(1, 10)), sessions[1].current), "test")
    assert "session 1 was moved" in check_night(NightProblem(sessions), moved)
    clash = replace(moved, placements=(sessions[0].current, replace(sessions[1].current, clinician=ANNA.id)))
    assert "clinician 1 serves two sessions at once" in check_night(NightProblem(sessions), clash)
    assert "device 20 serves two sessions at once" in check_night(NightProblem(sessions), clash)


@st.composite
def booked_days(draw) -> tuple[BookedSession, ...]:
    """A day of sessions on the hour, each currently served validly (one clinician, room and unit per hour)."""
    clinicians = tuple(Candidate(i, f"Clinician {i}", draw(st.sampled_from([daily(8, 18), daily(8, 13), daily(12, 18)])))
                       for i in (1, 2, 3))
    kind = replace(ESWT, clinicians=clinicians, devices=(DevicePool("shockwave", 1, (UNIT, replace(UNIT, id=21))),))
    sessions = []
    for hour in draw(st.lists(st.integers(8, 17), unique=True, max_size=8)):
        owner = next((c for c in clinicians if any(a <= at(1, hour) and at(1, hour, 35) <= b for a, b in c.free)),
                     None)
        if owner is None:
            continue
        sessions.append(BookedSession(len(sessions) + 1, draw(st.integers(1, 3)), kind, at(1, hour),
                                      Placement(str(len(sessions) + 1), 0, at(1, hour), owner.id, ROOM_1.id, (20,)),
                                      keep_clinician=draw(st.booleans())))
    return tuple(sessions)


@settings(max_examples=40, deadline=None)
@given(booked_days())
def test_every_replan_passes_the_checker_and_changes_only_what_helps(sessions):
    solution = replan(NightProblem(sessions), FAST)
    assert check_night(NightProblem(sessions), solution) == []
    current = NightProblem(sessions)
    assert measure(current, solution.placements)["quality"] <= measure(current, [s.current for s in sessions])["quality"]


def waiting(key: str, patient: int, starts, priority: int = 3, kind: SessionKind = ESWT, **extra) -> WaitingSession:
    return WaitingSession(key, patient, kind, starts, priority=priority, **extra)


def placed(solution) -> dict:
    return {p.kind: p for p in solution.placements}


def test_the_higher_priority_request_gets_the_only_time():
    one_clinician = replace(ESWT, clinicians=(ANNA,))
    problem = NightProblem(waiting=(waiting("low", 1, [(at(1, 9), at(1, 9, 1))], 2, one_clinician),
                                    waiting("high", 2, [(at(1, 9), at(1, 9, 1))], 5, one_clinician)))
    solution = replan(problem, FAST)
    assert set(placed(solution)) == {"high"} and check_night(problem, solution) == []


def test_the_solver_places_what_greedy_first_fit_leaves_waiting():
    """Greedy gives the first request the 09:00 it likes best; only 09:00 suits the second, so it waits."""
    one_clinician = replace(ESWT, clinicians=(ANNA,))
    flexible = waiting("flexible", 1, [(at(1, 9), at(1, 10, 1))], 5, one_clinician)
    picky = waiting("picky", 2, [(at(1, 9), at(1, 9, 1))], 3, one_clinician)
    problem = NightProblem(waiting=(flexible, picky))
    assert {p.kind for p in place_greedily(problem)} == {"flexible"}
    solution = replan(problem, FAST)
    assert placed(solution)["picky"].start == at(1, 9) and placed(solution)["flexible"].start > at(1, 9)
    assert check_night(problem, solution) == [] and solution.objective > solution.greedy["placed"]


def test_a_booked_time_moves_only_when_the_policy_allows_and_then_by_little():
    """The one shockwave unit needs 10 minutes of cleaning: a 09:30 request fits only if 09:00 moves to 08:45."""
    wait_930 = waiting("request", 2, [(at(1, 9, 30), at(1, 9, 31))], 5)
    kept = NightProblem((booked(1, 1, at(1, 9)),), (wait_930,), grid=15)
    solution = replan(kept, FAST)
    assert placed(solution)["1"].start == at(1, 9) and "request" not in placed(solution)
    movable = NightProblem((booked(1, 1, at(1, 9), may_start=[(at(1, 8, 45), at(1, 9, 16))]),), (wait_930,), grid=15)
    solution = replan(movable, FAST)
    assert placed(solution)["1"].start == at(1, 8, 45) and placed(solution)["request"].start == at(1, 9, 30)
    assert check_night(movable, solution) == []
    assert "session 1 was moved" in check_night(kept, solution)


def test_plan_sessions_keep_their_spacing_and_one_clinician():
    days = tuple(at(day, 0) for day in range(10))
    first = waiting("eswt #1", 5, [(at(1, 8), at(1, 17))], team="plan")
    second = waiting("eswt #2", 5, [(at(1, 8), at(9, 17))], team="plan")
    busy_anna = replace(ANNA, free=[(at(day, 8), at(day, 18)) for day in range(10) if day != 1])
    kind = replace(ESWT, clinicians=(busy_anna, BEN))
    problem = NightProblem(waiting=(replace(first, kind=kind), replace(second, kind=kind)),
                           spacings=(Spacing("eswt #1", "eswt #2", 3, 4),), day_starts=days)
    solution = replan(problem, FAST)
    got = placed(solution)
    assert set(got) == {"eswt #1", "eswt #2"} and check_night(problem, solution) == []
    assert 3 <= problem.day_of(got["eswt #2"].start) - problem.day_of(got["eswt #1"].start) <= 4
    assert got["eswt #1"].clinician == got["eswt #2"].clinician == BEN.id
    too_close = replace(solution, placements=(got["eswt #1"], replace(got["eswt #2"], start=at(2, 9))))
    assert any("1 days after" in message for message in check_night(problem, too_close))
    split = replace(solution, placements=(got["eswt #1"], replace(got["eswt #2"], clinician=ANNA.id)))
    assert "sessions of plan have different clinicians" in check_night(problem, split)
    alone = replace(solution, placements=(got["eswt #2"],))
    assert "session eswt #2 is placed but eswt #1 before it is not" in check_night(problem, alone)


def test_idle_gaps_shrink_when_a_clinician_s_day_can_be_closed_up():
    """Anna at 09:00 and 16:00, Ben at 10:00 and 15:00: handing over two sessions closes both days up."""
    sessions = (booked(1, 1, at(1, 9)), booked(2, 2, at(1, 16), room=ROOM_2),
                booked(3, 3, at(1, 10), clinician=BEN), booked(4, 4, at(1, 15), clinician=BEN, room=ROOM_2))
    problem = NightProblem(sessions)
    solution = replan(problem, FAST)
    by_clinician = {}
    for placement in solution.placements:
        by_clinician.setdefault(placement.clinician, set()).add(placement.start)
    assert sorted(by_clinician.values(), key=min) == [{at(1, 9), at(1, 10)}, {at(1, 15), at(1, 16)}]
    assert check_night(problem, solution) == []
    assert solution.stage("quality").value < measure(problem, [s.current for s in sessions])["quality"]


def test_the_checker_catches_a_waiting_session_outside_its_times_and_a_patient_twice():
    problem = NightProblem((booked(1, 7, at(1, 9)),), (waiting("w", 7, [(at(1, 11), at(1, 12))]),))
    outside = ReplanSolution((problem.booked[0].current, Placement("w", 0, at(1, 13), BEN.id, ROOM_2.id, (20,))),
                             "test")
    assert "session w starts outside its allowed times" in check_night(problem, outside)
    twice = replace(problem, waiting=(waiting("w", 7, [(at(1, 9), at(1, 10))]),))
    clash = ReplanSolution((twice.booked[0].current, Placement("w", 0, at(1, 9), BEN.id, ROOM_2.id, (20,))), "test")
    assert "patient 7 is in two sessions at once" in check_night(twice, clash)


@st.composite
def nights(draw) -> NightProblem:
    """A booked day as above plus waiting requests with random windows, priorities and patients."""
    sessions = draw(booked_days())
    kind = sessions[0].kind if sessions else ESWT
    requests = []
    for n in range(draw(st.integers(0, 5))):
        hour = draw(st.integers(8, 16))
        requests.append(waiting(f"w{n}", draw(st.integers(1, 4)), [(at(1, hour), at(1, hour + draw(st.integers(1, 3))))],
                                draw(st.integers(1, 5)), kind))
    return NightProblem(sessions, tuple(requests))


@settings(max_examples=30, deadline=None)
@given(nights())
def test_every_night_passes_the_checker_and_places_at_least_greedy_s_priority(problem):
    solution = replan(problem, FAST)
    assert check_night(problem, solution) == []
    mine, greedy = measure(problem, solution.placements), measure(problem, place_greedily(problem))
    assert (-mine["placed"], mine["sooner"], mine["quality"]) <= (-greedy["placed"], greedy["sooner"], greedy["quality"])
    placed = solution.stage("placed")
    assert placed.value == mine["placed"] and placed.best_bound >= placed.value
    for stage in solution.stages[1:]:  # every level has a bound, and it never claims better than reached
        assert stage.value == mine[stage.name] and stage.best_bound is not None
        assert stage.best_bound <= stage.value
    if placed.status == "optimal":
        assert placed.gap == 0


def test_when_first_fit_and_the_index_use_up_the_limit_first_fit_is_the_answer(monkeypatch):
    """Nothing else is started once the deadline has passed: the answer is first fit's, said to be only that."""
    one_clinician = replace(ESWT, clinicians=(ANNA,))
    flexible = waiting("flexible", 1, [(at(1, 9), at(1, 10, 1))], 5, one_clinician)
    picky = waiting("picky", 2, [(at(1, 9), at(1, 9, 1))], 3, one_clinician)
    problem = NightProblem(waiting=(flexible, picky))
    slow_index = replan_module.NightIndex

    def index_taking_the_limit(night):
        time.sleep(0.3)
        return slow_index(night)

    monkeypatch.setattr(replan_module, "NightIndex", index_taking_the_limit)
    solution = replan(problem, replace(FAST, time_limit=0.2))
    assert solution.status == "greedy" and set(solution.placements) == set(place_greedily(problem))
    assert all(stage.best_bound is None and stage.status == "unknown" for stage in solution.stages)
    monkeypatch.setattr(replan_module, "NightIndex", slow_index)
    assert set(placed(replan(problem, FAST))) == {"flexible", "picky"}  # the same night, given time, does better


def test_first_fit_filling_around_an_answer_stops_at_its_time():
    problem = NightProblem(waiting=(waiting("a", 1, [(at(1, 9), at(1, 12))]), waiting("b", 2, [(at(1, 9), at(1, 12))])))
    assert place_greedily(problem, (), until=time.perf_counter() - 1) == ()
    assert len(place_greedily(problem, (), until=time.perf_counter() + 60)) == 2
