"""``check_night``: one test per rule it enforces, each with an answer that breaks that rule alone."""

from dataclasses import replace

import pytest

from solver.night_check import check_night, check_problem
from solver.night_problem import NightProblem, ReplanSolution, Spacing
from solver.plan_model import Limits
from solver.plans import Placement, SessionKind
from solver.replan import replan
from tests.test_plan_rules import at
from tests.test_replan import ANNA, BEN, ESWT, ROOM_1, ROOM_2, booked, waiting

DAYS = tuple(at(day, 0) for day in range(14))
KEPT = booked(1, 1, at(1, 9), keep_clinician=True)
OTHER = booked(2, 2, at(1, 11), clinician=BEN, room=ROOM_2)
REQUEST = waiting("w", 3, [(at(1, 8), at(1, 15))])
MANUAL = SessionKind("manual", "Manual therapy", 1, 30, (ANNA, BEN))
PROBLEM = NightProblem((KEPT, OTHER), (REQUEST,), day_starts=DAYS)
GOOD = (KEPT.current, OTHER.current, Placement("w", 0, at(1, 13), ANNA.id, ROOM_1.id, (20,)))


def broken(placements, problem=PROBLEM) -> list[str]:
    return check_night(problem, ReplanSolution(tuple(placements), "test"))


def test_a_valid_answer_breaks_nothing():
    assert broken(GOOD) == []


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p + (p[0],), "session 1 is placed twice"),
    (lambda p: p + (Placement("ghost", 0, at(2, 9), ANNA.id),), "session ghost is not part of the night"),
    (lambda p: p[1:], "booked session 1 lost its place"),
    (lambda p: (replace(p[0], start=at(1, 10)),) + p[1:], "session 1 was moved"),
    (lambda p: (replace(p[0], clinician=BEN.id),) + p[1:],
     "session 1 changed clinician although continuity requires the same one"),
    (lambda p: p[:2] + (replace(p[2], start=at(1, 16)),), "session w starts outside its allowed times"),
    (lambda p: p[:2] + (replace(p[2], start=at(1, 13, 5)),), "session w starts outside its allowed times"),
    (lambda p: p[:2] + (replace(p[2], devices=()),), "session w has the wrong number of device units"),
    (lambda p: p[:2] + (replace(p[2], devices=(99,)),), "session w does not have 1 shockwave unit(s)"),
    (lambda p: p[:2] + (replace(p[2], clinician=77),), "session w: its clinician 77 is not eligible"),
    (lambda p: p[:2] + (replace(p[2], room=55),), "session w: its room 55 is not eligible"),
    (lambda p: p[:2] + (replace(p[2], start=at(1, 9), clinician=BEN.id, room=ROOM_2.id),),
     "device 20 serves two sessions at once"),
    (lambda p: p[:2] + (replace(p[2], start=at(1, 11, 15), clinician=BEN.id, room=ROOM_1.id),),
     "clinician 2 serves two sessions at once"),
    (lambda p: p[:2] + (replace(p[2], start=at(1, 9, 15), clinician=BEN.id),),
     "room 10 serves two sessions at once"),
])
def test_each_rule_is_caught(change, message):
    assert message in broken(change(GOOD))


def test_a_resource_not_free_then_is_caught():
    short = replace(BEN, free=[(at(1, 8), at(1, 12))])
    problem = replace(PROBLEM, waiting=(replace(REQUEST, kind=replace(ESWT, clinicians=(ANNA, short))),))
    assert "session w: Ben is not free then" in broken(GOOD[:2] + (replace(GOOD[2], clinician=BEN.id),), problem)


def test_a_booked_session_keeping_its_time_may_keep_what_is_no_longer_free():
    """A shift cut after the booking: keeping the promise is no fault; moving onto such a resource is."""
    cut = replace(ANNA, free=[(at(1, 8), at(1, 9))])
    session = replace(KEPT, kind=replace(ESWT, clinicians=(cut, BEN)), keep_clinician=False)
    problem = NightProblem((session,), day_starts=DAYS)
    assert broken((session.current,), problem) == []
    moved = replace(session, may_start=[(at(1, 9, 15), at(1, 9, 16))])
    assert "session 1: Anna is not free then" in broken((replace(session.current, start=at(1, 9, 15)),),
                                                       replace(problem, booked=(moved,)))


def test_a_room_given_to_a_session_that_needs_none_is_caught():
    problem = NightProblem(waiting=(waiting("m", 4, [(at(1, 9), at(1, 10))], kind=MANUAL),), day_starts=DAYS)
    assert broken((Placement("m", 0, at(1, 9), ANNA.id),), problem) == []
    assert "session m has a room it does not need" in broken((Placement("m", 0, at(1, 9), ANNA.id, ROOM_1.id),),
                                                            problem)


def test_a_patient_in_two_sessions_at_once_is_caught():
    problem = replace(PROBLEM, waiting=(replace(REQUEST, patient=2, starts=[(at(1, 11), at(1, 12))]),))
    clash = GOOD[:2] + (Placement("w", 0, at(1, 11), ANNA.id, ROOM_1.id, (20,)),)
    assert "patient 2 is in two sessions at once" in broken(clash, problem)


SPACED = NightProblem(waiting=(waiting("a", 5, [(at(1, 8), at(9, 18))], kind=MANUAL),
                               waiting("b", 5, [(at(1, 8), at(9, 18))], kind=MANUAL)), day_starts=DAYS)


@pytest.mark.parametrize(("rule", "second", "message"), [
    (Spacing("a", "b"), at(1, 9, 15), "session b starts before a ends"),
    (Spacing("a", "b", min_days=2), at(2, 9), "session b is 1 days after a"),
    (Spacing("a", "b", max_days=3), at(5, 9), "session b is 4 days after a"),
    (Spacing("a", "b", min_hours=48), at(3, 8), "session b starts 47 hours after a"),
    (Spacing("a", "b", max_hours=24), at(2, 10), "session b starts 25 hours after a"),
])
def test_each_spacing_rule_is_caught(rule, second, message):
    problem = replace(SPACED, spacings=(rule,))
    first = Placement("a", 0, at(1, 9), ANNA.id)
    assert message in broken((first, Placement("b", 0, second, BEN.id)), problem)
    assert broken((Placement("b", 0, second, BEN.id),), problem) == ["session b is placed but a before it is not"]


def test_one_clinician_throughout_is_caught():
    problem = replace(SPACED, waiting=tuple(replace(w, team="course") for w in SPACED.waiting))
    same = (Placement("a", 0, at(1, 9), ANNA.id), Placement("b", 0, at(2, 9), ANNA.id))
    assert broken(same, problem) == []
    assert broken((same[0], replace(same[1], clinician=BEN.id)), problem) == ["sessions of course have different clinicians"]


# --- the night itself, before any answer: ``check_problem``, and ``replan`` refusing what it names ---------------


def _spaced(*rules: Spacing) -> NightProblem:
    return replace(PROBLEM, waiting=(REQUEST, replace(REQUEST, key="v")), spacings=rules)


@pytest.mark.parametrize(("problem", "message"), [
    (replace(PROBLEM, grid=0), "the grid is 0 minutes; it must be at least 1"),
    (replace(PROBLEM, day_starts=DAYS[::-1]), "day_starts are not in increasing order"),
    (replace(PROBLEM, waiting=(REQUEST, REQUEST)), "session w is given twice"),
    (replace(PROBLEM, waiting=(replace(REQUEST, key="1"),)), "session 1 is given twice"),
    (replace(PROBLEM, booked=(KEPT, KEPT)), "session 1 is given twice"),
    (replace(PROBLEM, waiting=(replace(REQUEST, priority=0),)), "session w has priority 0; priorities start at 1"),
    (replace(PROBLEM, waiting=(replace(REQUEST, starts=[(at(1, 15), at(1, 8))]),)),
     "session w has an empty or reversed span of starts"),
    (replace(PROBLEM, waiting=(replace(REQUEST, kind=replace(ESWT, duration=0)),)), "ESWT lasts 0 minutes"),
    (replace(PROBLEM, waiting=(replace(REQUEST, kind=replace(ESWT, buffer_after=-5)),)),
     "ESWT has a negative buffer or cleaning time"),
    (replace(PROBLEM, waiting=(replace(REQUEST, kind=replace(ESWT, devices=(replace(ESWT.devices[0], count=0),))),)),
     "ESWT needs 0 shockwave units"),
    (replace(PROBLEM, waiting=(replace(REQUEST, kind=replace(ESWT, devices=ESWT.devices * 2)),)),
     "ESWT names a device pool twice"),
    (_spaced(Spacing("w", "ghost", min_days=1)), "a spacing rule names ghost, which is not a waiting session"),
    (_spaced(Spacing("1", "w", min_days=1)), "a spacing rule names 1, which is not a waiting session"),
    (_spaced(Spacing("w", "w", min_days=1)), "session w is the later session of more than one spacing rule"),
    (_spaced(Spacing("w", "v", min_days=1), Spacing("w", "v", min_hours=2)),
     "session v is the later session of more than one spacing rule"),
    (_spaced(Spacing("w", "v", min_days=3, max_days=2)), "the spacing before v allows no gap in days (3 to 2)"),
    (_spaced(Spacing("w", "v", min_hours=-1)), "the spacing before v allows no gap in hours (-1 to None)"),
    (replace(PROBLEM, booked=(replace(KEPT, current=replace(KEPT.current, kind="7")), OTHER)),
     "booked session 1: its current placement is not its own"),
    (replace(PROBLEM, booked=(KEPT, replace(OTHER, start=KEPT.start, current=replace(OTHER.current,
                                                                                   start=KEPT.start)))),
     "the schedule as booked breaks a rule: device 20 serves two sessions at once"),
    (replace(PROBLEM, booked=(replace(KEPT, current=replace(KEPT.current, clinician=77)), OTHER)),
     "the schedule as booked breaks a rule: session 1: its clinician 77 is not eligible"),
])
def test_a_night_that_is_not_well_formed_is_refused_saying_why(problem, message):
    assert any(message in found for found in check_problem(problem)), check_problem(problem)
    with pytest.raises(ValueError, match="the night cannot be solved as given") as refused:
        replan(problem, Limits(2, 1))
    assert message in str(refused.value)


def test_a_well_formed_night_has_nothing_to_refuse():
    assert check_problem(PROBLEM) == [] and check_problem(NightProblem()) == []
    assert check_problem(_spaced(Spacing("w", "v", min_days=1, max_days=1))) == []
