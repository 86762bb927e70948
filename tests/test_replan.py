"""Re-planning who serves booked sessions: times stay, the result is checked, never worse than now."""

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from solver.plan_model import Limits
from solver.plans import Candidate, DevicePool, Placement, SessionKind
from solver.replan import BookedSession, cost_of_current, check_replan, replan
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
    solution = replan(sessions, FAST)
    assert check_replan(sessions, solution) == []
    assert sorted(p.clinician for p in solution.placements) == [1, 1, 2, 2]
    assert [p.start for p in solution.placements] == [s.start for s in sessions]
    assert solution.status == "optimal" and solution.gap == 0 and solution.first_solution_seconds is not None


def test_continuity_of_care_outweighs_balance():
    sessions = tuple(booked(n, patient=7, start=at(n, 9)) for n in range(3))  # one patient's course
    solution = replan(sessions, FAST)
    assert {p.clinician for p in solution.placements} == {ANNA.id}


def test_a_required_clinician_is_kept():
    sessions = tuple(booked(n, patient=n, start=at(1, 9 + n), keep_clinician=True) for n in range(3))
    assert {p.clinician for p in replan(sessions, FAST).placements} == {ANNA.id}


def test_nothing_changes_when_nothing_is_better():
    sessions = (booked(1, 1, at(1, 9)), booked(2, 2, at(1, 10), clinician=BEN))
    solution = replan(sessions, FAST)
    assert solution.placements == tuple(s.current for s in sessions)


def test_a_busy_candidate_is_not_used():
    busy_ben = replace(BEN, free=[(at(1, 12), at(1, 18))])
    kind = replace(ESWT, clinicians=(ANNA, busy_ben))
    sessions = tuple(replace(booked(n, n, at(1, 9 + n)), kind=kind) for n in range(2))
    solution = replan(sessions, FAST)
    assert {p.clinician for p in solution.placements} == {ANNA.id} and check_replan(sessions, solution) == []


def test_the_checker_catches_a_moved_session_and_a_double_booking():
    sessions = (booked(1, 1, at(1, 9)), booked(2, 2, at(1, 9), clinician=BEN, room=ROOM_2))
    moved = replace(replan(sessions, FAST), placements=(
        replace(sessions[0].current, start=at(1, 10)), sessions[1].current))
    assert "session 1 was moved" in check_replan(sessions, moved)
    clash = replace(moved, placements=(sessions[0].current, replace(sessions[1].current, clinician=ANNA.id)))
    assert "clinician 1 serves two sessions at once" in check_replan(sessions, clash)
    assert "device 20 serves two sessions at once" in check_replan(sessions, clash)


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
    solution = replan(sessions, FAST)
    assert check_replan(sessions, solution) == []
    if solution.objective is not None:
        assert solution.objective <= cost_of_current(sessions)
