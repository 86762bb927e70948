"""Rooms and device units given again at the end of a night, so that booked sessions keep the ones they have."""

import time

from solver.night_check import measure
from solver.night_index import NightIndex
from solver.night_problem import BookedSession, NightProblem
from solver.night_units import keep_units
from solver.plans import Candidate, Placement, SessionKind
from tests.test_plan_rules import at, daily

ANNA, BEN, CARL = (Candidate(n, name, daily(8, 18)) for n, name in ((1, "Anna"), (2, "Ben"), (3, "Carl")))
ROOMS = tuple(Candidate(10 + n, f"Room {n + 1}", daily(0, 24)) for n in range(3))
MASSAGE = SessionKind("massage", "Massage", count=1, duration=30, clinicians=(ANNA, BEN, CARL), needs_room=True,
                      rooms=ROOMS)


def session(ident: int, start: int, clinician: Candidate, room: Candidate) -> BookedSession:
    return BookedSession(ident, ident, MASSAGE, start, Placement(str(ident), 0, start, clinician.id, room.id))


NIGHT = NightProblem((
    session(1, at(1, 9), ANNA, ROOMS[0]), session(2, at(1, 9), BEN, ROOMS[1]), session(3, at(1, 9), CARL, ROOMS[2]),
    session(4, at(1, 10), ANNA, ROOMS[1]), session(5, at(1, 10, 15), BEN, ROOMS[0])))


def handed_round() -> list[Placement]:
    """The night's sessions at their own times with their own clinicians, every room handed on to the next."""
    rooms = {"1": 11, "2": 12, "3": 10, "4": 10, "5": 11}
    return [Placement(str(s.id), 0, s.start, s.current.clinician, rooms[str(s.id)]) for s in NIGHT.booked]


def test_every_booked_session_gets_its_own_room_back_when_the_rooms_allow():
    placements = handed_round()
    assert measure(NIGHT, placements)["changed_resource"] == 5
    kept = keep_units(NightIndex(NIGHT), placements, until=time.perf_counter() + 5)
    assert set(kept) == {s.current for s in NIGHT.booked}


def test_with_no_time_left_the_rooms_stay_as_they_are():
    placements = handed_round()
    assert set(keep_units(NightIndex(NIGHT), placements, until=time.perf_counter())) == set(placements)


def test_two_sessions_that_had_one_room_and_now_overlap_one_keeps_it_and_no_one_else_changes():
    moved = NightProblem(NIGHT.booked[:4] + (session(5, at(1, 10, 15), BEN, ROOMS[1]),))
    placements = [Placement("1", 0, at(1, 9), 1, 11), Placement("2", 0, at(1, 9), 2, 12), Placement("3", 0, at(1, 9), 3, 10),
                  Placement("4", 0, at(1, 10), 1, 10), Placement("5", 0, at(1, 10, 15), 2, 11)]
    kept = {p.kind: p.room for p in keep_units(NightIndex(moved), placements, until=time.perf_counter() + 5)}
    assert kept["1"] == 10 and kept["2"] == 11 and kept["3"] == 12
    assert kept["4"] != kept["5"] and (kept["4"] == 11) + (kept["5"] == 11) == 1
