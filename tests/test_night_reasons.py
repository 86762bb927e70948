"""Why a waiting session was left waiting: one test per reason, each read off a small night's final answer."""

from dataclasses import replace

from solver.night_problem import BookedSession, NightProblem, Spacing, WaitingSession
from solver.night_reasons import left_waiting
from solver.plans import Candidate, DevicePool, Placement, SessionKind
from tests.test_plan_rules import at, daily

ANNA, BEN = Candidate(1, "Anna", daily(8, 18)), Candidate(2, "Ben", daily(8, 18))
ROOM_1, ROOM_2 = Candidate(10, "Room 1", daily(0, 24)), Candidate(11, "Room 2", daily(0, 24))
UNIT_1, UNIT_2 = Candidate(20, "Shockwave 1", daily(0, 24), cleaning=10), Candidate(21, "Shockwave 2", daily(0, 24))
ESWT = SessionKind("eswt", "ESWT", count=1, duration=30, clinicians=(ANNA, BEN), needs_room=True,
                   rooms=(ROOM_1, ROOM_2), devices=(DevicePool("shockwave", 1, (UNIT_1, UNIT_2)),))
NINE = [(at(1, 9), at(1, 9, 1))]  # one start: Monday 09:00


def waiting(key: str, patient: int = 1, starts=NINE, kind: SessionKind = ESWT, **extra) -> WaitingSession:
    return WaitingSession(key, patient, kind, starts, **extra)


def booked(ident: int, patient: int, start: int, clinician=ANNA, room=ROOM_1, unit=UNIT_1) -> BookedSession:
    return BookedSession(ident, patient, ESWT, start, Placement(str(ident), 0, start, clinician.id, room.id,
                                                                (unit.id,)))


def reasons(problem: NightProblem, placements=()) -> dict[str, tuple[str, str]]:
    placements = tuple(placements) or tuple(session.current for session in problem.booked)
    return {left.key: (left.code, left.reason) for left in left_waiting(problem, placements)}


def test_placed_sessions_have_no_reason_and_the_order_is_the_problem_s():
    problem = NightProblem(waiting=(waiting("b", starts=[]), waiting("placed"), waiting("a", starts=[])))
    left = left_waiting(problem, (Placement("placed", 0, at(1, 9), ANNA.id, ROOM_1.id, (UNIT_1.id,)),))
    assert [entry.key for entry in left] == ["b", "a"]


def test_a_window_without_a_start_on_the_grid():
    problem = NightProblem(waiting=(waiting("empty", starts=[]), waiting("off grid", starts=[(at(1, 9, 1),
                                                                                              at(1, 9, 14))])))
    assert {code for code, _ in reasons(problem).values()} == {"no_allowed_start"}
    assert reasons(problem)["empty"][1].startswith("no allowed start")


def test_no_certified_clinician_on_shift_in_the_patient_s_window():
    mornings = replace(ESWT, clinicians=(replace(ANNA, free=daily(8, 12)),))
    problem = NightProblem(waiting=(waiting("afternoon", kind=mornings, starts=[(at(1, 14), at(1, 17))]),))
    assert reasons(problem)["afternoon"] == ("no_clinician", "no certified clinician on shift in the patient's window")
    nobody = replace(ESWT, clinicians=())
    assert reasons(NightProblem(waiting=(waiting("x", kind=nobody),)))["x"][0] == "no_clinician"


def test_the_clinician_a_plan_requires_is_off_although_another_is_on_shift():
    anna_off_tuesday = replace(ESWT, clinicians=(replace(ANNA, free=daily(8, 18, days=1)), BEN))
    first = waiting("plan #1", starts=NINE, kind=anna_off_tuesday, team="plan line")
    second = waiting("plan #2", starts=[(at(2, 9), at(2, 10))], kind=anna_off_tuesday, team="plan line")
    problem = NightProblem(waiting=(first, second))
    placed = (Placement("plan #1", 0, at(1, 9), ANNA.id, ROOM_1.id, (UNIT_1.id,)),)
    assert reasons(problem, placed)["plan #2"][0] == "plan_clinician_off"


def test_no_room_and_not_enough_units_in_service():
    no_room = replace(ESWT, rooms=(replace(ROOM_1, free=daily(18, 20)),))
    maintenance = replace(ESWT, devices=(DevicePool("shockwave", 2, (replace(UNIT_1, free=[]), UNIT_2)),))
    problem = NightProblem(waiting=(waiting("room", kind=no_room), waiting("units", kind=maintenance)))
    assert reasons(problem)["room"][0] == "no_room"
    assert reasons(problem)["units"] == ("no_device", "not enough shockwave units are in service at any start in "
                                                      "the patient's window")


def test_each_is_on_hand_but_never_together():
    apart = replace(ESWT, clinicians=(replace(ANNA, free=daily(8, 12)),), rooms=(replace(ROOM_1, free=daily(12, 18)),))
    problem = NightProblem(waiting=(waiting("apart", kind=apart, starts=[(at(1, 8), at(1, 18))]),))
    assert reasons(problem)["apart"][0] == "no_common_time"


def test_the_earlier_session_of_its_plan_is_not_placed():
    problem = NightProblem(waiting=(waiting("#1", starts=[]), waiting("#2", starts=[(at(2, 9), at(2, 12))])),
                           spacings=(Spacing("#1", "#2", min_days=1),))
    assert reasons(problem)["#2"] == ("earlier_not_placed", "the earlier session of its plan (#1) is not placed")


def test_the_spacing_after_the_placed_earlier_session_leaves_no_start():
    problem = NightProblem(waiting=(waiting("#1"), waiting("#2", starts=[(at(2, 9), at(2, 12))])),
                           spacings=(Spacing("#1", "#2", min_hours=48),))
    placed = (Placement("#1", 0, at(1, 9), ANNA.id, ROOM_1.id, (UNIT_1.id,)),)
    assert reasons(problem, placed)["#2"] == ("spacing", "the spacing after #1 leaves no start")
    within = replace(problem, spacings=(Spacing("#1", "#2", min_hours=24),))
    assert reasons(within, placed)["#2"][0] == "free_start_unused"


def test_every_start_is_taken_and_the_reason_names_the_kind_that_takes_most():
    """09:00 and 09:15 are the window; each case narrows one kind of resource and fills it."""
    window = [(at(1, 9), at(1, 9, 16))]

    def taken(kind: SessionKind, *sessions: BookedSession) -> str:
        code, text = reasons(NightProblem(booked=sessions, waiting=(waiting("w", starts=window, kind=kind),)))["w"]
        assert code == "taken"
        return text.removeprefix("every start in its window is taken: ")

    at_nine = booked(1, 5, at(1, 9), ANNA, ROOM_1, UNIT_1)
    assert taken(replace(ESWT, clinicians=(ANNA,)), at_nine) == "clinicians (busy at 2 of 2 starts)"
    assert taken(replace(ESWT, rooms=(ROOM_1,)), at_nine) == "rooms (busy at 2 of 2 starts)"
    one_unit = replace(ESWT, devices=(DevicePool("shockwave", 1, (UNIT_1,)),))
    assert taken(one_unit, booked(1, 5, at(1, 8, 45), ANNA, ROOM_1, UNIT_1)) == "shockwave units (busy at 2 of 2 " \
                                                                                 "starts)", "cleaning counts"
    one_each = replace(ESWT, clinicians=(ANNA,), rooms=(ROOM_1,))
    assert taken(one_each, at_nine) == "clinicians (busy at 2 of 2 starts)", "a tie goes to the clinicians"
    anna_elsewhere = booked(1, 5, at(1, 9), ANNA, ROOM_2, UNIT_1)
    room_until_915 = booked(2, 6, at(1, 8, 45), BEN, ROOM_1, UNIT_2)
    assert taken(one_each, anna_elsewhere, room_until_915) == "clinicians (busy at 2 of 2 starts)", "the room " \
        "is busy at one start only"


def test_the_patient_s_own_other_sessions_can_be_what_binds():
    problem = NightProblem(booked=(booked(1, 7, at(1, 9), ANNA, ROOM_1, UNIT_1),), waiting=(waiting("w", patient=7),))
    assert reasons(problem)["w"] == ("taken", "every start in its window is taken: the patient's other sessions "
                                              "(busy at 1 of 1 starts)")


def test_reasons_follow_the_final_answer_not_the_schedule_before_it():
    """The booked session moved away from 09:00 in the answer: 09:00 is free, so the search merely missed it."""
    session = replace(booked(1, 5, at(1, 9), ANNA, ROOM_1, UNIT_1), kind=replace(ESWT, clinicians=(ANNA,)))
    problem = NightProblem(booked=(session,), waiting=(waiting("w", kind=session.kind),))
    assert reasons(problem)["w"][0] == "taken"
    moved = (replace(session.current, start=at(1, 10)),)
    assert reasons(problem, moved)["w"][0] == "free_start_unused"
