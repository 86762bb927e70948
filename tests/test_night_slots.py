"""The night's grid model (``solver/night_slots.py``): a placements bound that sees short gaps, and a whole-number
answer that becomes a schedule only through the night's own model and ``check_night``."""

import time
from dataclasses import replace

import pytest
from ortools.sat.python import cp_model

from bench.instances import generate
from solver import night_slots
from solver import replan as replan_module
from solver.night_bound import placement_bound
from solver.night_check import check_night, measure
from solver.night_greedy import place_greedily
from solver.night_index import NightIndex
from solver.night_model import NightModel
from solver.night_problem import BookedSession, NightProblem, ReplanSolution
from solver.night_slots import SlotModel
from solver.plans import Placement, SessionKind
from solver.replan import replan
from tests.test_plan_rules import at
from tests.test_replan import ANNA, BEN, FAST, placed, waiting

DAYS = tuple(at(day, 0) for day in range(14))
MANUAL = SessionKind("manual", "Manual therapy", 1, 30, (ANNA,))


def slot_bound(problem: NightProblem) -> float | None:
    """The grid's whole-number bound; the pooled grid's (clinicians counted like units), where a start survives,
    must say the same on these one-clinician nights."""
    index = NightIndex(problem)
    model = SlotModel(index, until=time.perf_counter() + 60)
    assert model.built and not model.pooled
    bound = model.solve({}, time.perf_counter() + 60)[1]
    if any(model.starts.values()):
        assert pooled(index).bound(time.perf_counter() + 60) == pytest.approx(bound)
    return bound


def pooled(index: NightIndex) -> SlotModel:
    """The night's grid with a column cap that leaves room for its starts but not for them with each clinician."""
    starts = sum(len(columns) for columns in SlotModel(index, until=time.perf_counter() + 60).starts.values())
    model = SlotModel(index, until=time.perf_counter() + 60, max_columns=starts)
    assert model.built and model.pooled and len(model.lines.columns) == starts
    return model


def gaps_of_a_quarter_hour(kind: SessionKind = MANUAL) -> tuple[BookedSession, ...]:
    """Anna booked 09:00-09:30, 09:45-10:15, ... 11:15-11:45: fifteen free minutes between each two."""
    starts = [at(1, 9, 45 * n) for n in range(4)]
    return tuple(BookedSession(n + 1, 100 + n, kind, start, Placement(str(n + 1), 0, start, ANNA.id))
                 for n, start in enumerate(starts))


def test_short_gaps_between_fixed_bookings_hold_no_session():
    """An hour of Anna's time is free between 09:00 and 12:00, in four pieces of 15 minutes: the day's energy says a
    30-minute session fits; at the minute it does not, and the night's bound says so."""
    request = waiting("w", 1, [(at(1, 9), at(1, 11, 31))], 3, MANUAL)
    problem = NightProblem(gaps_of_a_quarter_hour(), (request,), day_starts=DAYS)
    assert placement_bound(NightIndex(problem), until=float("inf")) >= 3  # the day's programme cannot tell
    assert slot_bound(problem) == 0
    solution = replan(problem, FAST)
    assert solution.stage("placed").value == 0 and solution.stage("placed").relaxation == 0
    assert solution.stage("placed").status == "optimal"


def test_a_booking_that_could_go_to_another_clinician_does_not_use_up_the_gap():
    """The same night, but Ben could take the 09:45 booking: then 09:45-10:15 is Anna's for the request."""
    both = replace(MANUAL, clinicians=(ANNA, BEN))
    bookings = list(gaps_of_a_quarter_hour())
    bookings[1] = replace(bookings[1], kind=both)
    request = waiting("w", 1, [(at(1, 9), at(1, 11, 31))], 3, MANUAL)
    problem = NightProblem(tuple(bookings), (request,), day_starts=DAYS)
    assert slot_bound(problem) == pytest.approx(3)
    assert "w" not in {p.kind for p in place_greedily(problem)}, "first fit keeps bookings where they are"
    solution = replan(problem, FAST)
    assert placed(solution)["w"].clinician == ANNA.id and placed(solution)["2"].clinician == BEN.id
    assert check_night(problem, solution) == []


def test_a_start_reaching_into_bookings_between_grid_minutes_is_not_offered():
    """A buffer shorter than the grid: at 09:30 the request's span reaches back to 09:25, while both clinicians are
    still with the 09:00 bookings, and no grid minute shows it. The starts are sifted minute by minute, so 09:30 is
    not among the request's; 09:45 and 10:00 are, and the night's answer takes one and passes the check."""
    buffered = replace(MANUAL, buffer_before=5, clinicians=(ANNA, BEN))
    short = SessionKind("short", "Short review", 1, 20, (ANNA, BEN), buffer_after=10)
    bookings = (BookedSession(1, 100, short, at(1, 9), Placement("1", 0, at(1, 9), ANNA.id)),
                BookedSession(2, 101, short, at(1, 9), Placement("2", 0, at(1, 9), BEN.id)))
    request = waiting("w", 1, [(at(1, 9, 30), at(1, 10, 1))], 3, buffered)
    problem = NightProblem(bookings, (request,), day_starts=DAYS)
    index = NightIndex(problem)
    grid = SlotModel(index, until=time.perf_counter() + 10)
    assert sorted(grid.starts["w"]) == [at(1, 9, 45), at(1, 10)]
    search = replan_module._Search(problem, index, {p.kind: p for p in place_greedily(problem) if p.kind != "w"},
                                   time.perf_counter() + 30, 1, began=time.perf_counter())
    search.slots = grid
    search.through_slots(time.perf_counter() + 10)
    kept = ReplanSolution(tuple(search.best.values()), "kept")
    assert check_night(problem, kept) == [] and placed(kept)["w"].start in (at(1, 9, 45), at(1, 10))


def test_spans_that_meet_between_grid_minutes_do_not_share_a_clinician():
    """Anna could give a re-education hour at 09:00 and a gait assessment at 10:00 whose 10-minute set-up begins at
    09:50: they overlap by ten minutes, none of them a grid minute. The rows count at every minute a span may begin,
    so the programme gives Anna one of the two (3 points, not 6), and what it gives is served in full."""
    reeducation = SessionKind("reeducation", "Re-education", 1, 60, (ANNA,))
    gait = SessionKind("gait", "Gait assessment", 1, 60, (ANNA,), buffer_before=10, buffer_after=10)
    problem = NightProblem((), (waiting("hour", 1, [(at(1, 9), at(1, 9, 1))], 3, reeducation),
                                waiting("gait", 2, [(at(1, 10), at(1, 10, 1))], 3, gait)), day_starts=DAYS)
    index = NightIndex(problem)
    grid = SlotModel(index, until=time.perf_counter() + 10)
    assert at(1, 9, 50) in grid.checks and slot_bound(problem) == pytest.approx(3)
    search = replan_module._Search(problem, index, {}, time.perf_counter() + 30, 1, began=time.perf_counter())
    search.slots = grid
    search.through_slots(time.perf_counter() + 10)
    kept = ReplanSolution(tuple(search.best.values()), "kept")
    assert check_night(problem, kept) == [] and len(kept.placements) == 1


def test_the_interior_point_search_gives_the_same_optimum(monkeypatch):
    """Where the simplex cannot solve the programme in its share of the time, HiGHS's search uses the interior point
    method for its LPs (demo's tight 3,000-session night). That path proves the same optimum as the simplex's."""
    problem = generate("demo", 80, 6, booked_share=0.5).problem
    index = NightIndex(problem)
    hint = {p.kind: p for p in place_greedily(problem)}
    found = {}
    for suffices in (True, False):
        monkeypatch.setattr(SlotModel, "_simplex_suffices", lambda self, seconds, threads, answer=suffices: answer)
        grid = SlotModel(index, until=time.perf_counter() + 60)
        chosen, bound = grid.solve(hint, time.perf_counter() + 60)
        found[grid.lp_solver] = (sum(index.sessions[key].priority for key in chosen), round(bound, 6))
    assert set(found) == {"simplex", "ipm"} and found["simplex"] == found["ipm"]
    assert found["ipm"][0] == found["ipm"][1], "proven optimal both ways"


def test_a_large_grid_is_not_started_in_too_little_time(monkeypatch):
    """HiGHS's single steps outlast a short time limit on a large model, so the time it is started with grows with
    the columns: here 29 columns at a second each need 29 s, and 10 s give no answer (the search goes on without)."""
    late_ben = replace(BEN, free=[(at(1, 10), at(1, 18))])
    request = waiting("w", 1, [(at(1, 9), at(1, 11, 31))], 3, replace(MANUAL, clinicians=(ANNA, late_ben)))
    grid = SlotModel(NightIndex(NightProblem((), (request,), day_starts=DAYS)), until=time.perf_counter() + 10)
    assert len(grid.lines.columns) == 29
    monkeypatch.setattr(night_slots, "SECONDS_PER_COLUMN", 1.0)
    assert grid.solve({}, time.perf_counter() + 10) is None
    monkeypatch.setattr(night_slots, "SECONDS_PER_COLUMN", 0.1)
    assert grid.solve({}, time.perf_counter() + 10)[1] == pytest.approx(3)


def test_a_fragmented_night_is_placed_from_the_grid_answer():
    """pt's own front desk booked 80 % of a small night at random: the grid answer, made a schedule, places more
    than first fit and passes the check."""
    problem = generate("pt", 300, 1, booked_share=0.8).problem
    index = NightIndex(problem)
    greedy = place_greedily(problem)
    search = replan_module._Search(problem, index, {p.kind: p for p in greedy}, time.perf_counter() + 600, 1,
                                   began=time.perf_counter())
    search.slots = SlotModel(index, until=time.perf_counter() + 60)
    bound = search.through_slots(time.perf_counter() + 300)  # proven in 13 s on a quiet machine: it stops there
    points = measure(problem, search.best.values())["placed"]
    assert check_night(problem, ReplanSolution(tuple(search.best.values()), "kept")) == []
    assert points > measure(problem, greedy)["placed"]
    assert bound is not None and bound >= points


@pytest.mark.parametrize(("family", "seed", "share"), [
    ("demo", 1, 0.8), ("pt", 2, 0.8), ("sports", 3, 0.8), ("pt", 4, None), ("sports", 5, None), ("demo", 6, 0.5)])
def test_the_grid_bound_never_cuts_off_a_proven_optimum(family, seed, share):
    """Small generated nights of every family (the sports ones with bookings that may move and sessions pinned by
    a shortened shift, the tight ones with the family's own booked share): the night's whole model proves the
    placements optimum, and neither the programme nor the whole-number bound is below it."""
    problem = generate(family, 80, seed, booked_share=share, capacity="tight" if share is None else "normal").problem
    index = NightIndex(problem)
    movable = {key for key, info in index.sessions.items() if not info.pinned}
    pinned = {str(s.id): s.current for s in problem.booked if index.sessions[str(s.id)].pinned}
    night = NightModel(index, movable, pinned, "placed")
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = 60
    solver.parameters.num_workers = 2
    assert solver.Solve(night.model) == cp_model.OPTIMAL
    optimum = solver.ObjectiveValue()
    grid = SlotModel(index, until=time.perf_counter() + 60)
    assert grid.built
    answer = grid.solve({p.kind: p for p in place_greedily(problem)}, time.perf_counter() + 60)
    assert answer is not None and answer[1] >= optimum - 1e-6
    assert pooled(index).bound(time.perf_counter() + 60) >= answer[1] - 1e-6, "a relaxation of the grid"


def test_the_grid_is_not_built_past_its_column_cap():
    """Columns are counted as they will be written: a start, and the start with each clinician free for it then.
    The request's 11 starts (09:00-11:30) with Anna, and the 7 of them Ben, who comes at 10:00, could take: 29 (a
    count by every clinician of the session would say 33, and kept pt's 2,000-session night from its grid)."""
    late_ben = replace(BEN, free=[(at(1, 10), at(1, 18))])
    request = waiting("w", 1, [(at(1, 9), at(1, 11, 31))], 3, replace(MANUAL, clinicians=(ANNA, late_ben)))
    index = NightIndex(NightProblem((), (request,), day_starts=DAYS))
    assert len(SlotModel(index, until=time.perf_counter() + 10).lines.columns) == 29
    assert SlotModel(index, until=time.perf_counter() + 10, max_columns=29).built
    grid = SlotModel(index, until=time.perf_counter() + 10, max_columns=28)
    assert grid.built and grid.pooled and len(grid.lines.columns) == 11, "its 11 starts alone: pooled"
    assert grid.solve({}, time.perf_counter() + 10) is None, "a pooled grid gives a bound, no schedule"
    assert grid.bound(time.perf_counter() + 10) == pytest.approx(3)
    assert not SlotModel(index, until=time.perf_counter() + 10, max_columns=10).built


def test_highs_answers_whatever_thread_counts_one_process_asked_for_before():
    """HiGHS keeps one pool of threads per process, sized by its first run: a bound with one thread and then a solve
    with two (as a test process or a benchmark does) gave no answer at all until the pool was reset between them."""
    problem = generate("pt", 80, 2, booked_share=0.8).problem
    grid = SlotModel(NightIndex(problem), until=time.perf_counter() + 60)
    first = grid.bound(time.perf_counter() + 30, threads=1)
    assert first is not None
    answer = grid.solve({p.kind: p for p in place_greedily(problem)}, time.perf_counter() + 60, threads=2)
    assert answer is not None and answer[1] <= first + 1e-6
    assert grid.bound(time.perf_counter() + 30, threads=1) == pytest.approx(first)


def test_a_night_too_large_for_the_grid_in_its_time_reports_the_pooled_grid_s_bound(monkeypatch):
    """The quarter-hour gaps of Anna's morning and her free half hour from 11:45, two patients waiting for it: two
    starts, four columns with Anna. With a column budget of 1.5 per second, a 2 s call allows 3: the grid is pooled.
    The day's programme says both can be placed (6 points), the pooled grid one, and the night is proven optimal
    with one."""
    requests = tuple(waiting(key, patient, [(at(1, 9), at(1, 11, 46))], 3, MANUAL)
                     for key, patient in (("w1", 1), ("w2", 2)))
    problem = NightProblem(gaps_of_a_quarter_hour(), requests, day_starts=DAYS)
    assert placement_bound(NightIndex(problem), until=float("inf")) >= 6
    built = []

    def recorded(index, **options):
        built.append(SlotModel(index, **options))
        return built[-1]

    monkeypatch.setattr(replan_module, "SlotModel", recorded)
    monkeypatch.setattr(replan_module, "COLUMNS_PER_SECOND", 1.5)
    stage = replan(problem, FAST).stage("placed")
    assert built[0].pooled and len(built[0].lines.columns) == 2
    assert stage.value == 3 and stage.relaxation == 3 and stage.status == "optimal"
    monkeypatch.setattr(replan_module, "COLUMNS_PER_SECOND", 2)
    replan(problem, FAST)
    assert built[1].built and not built[1].pooled, "4 columns in a 2 s call: the grid with its clinicians"
