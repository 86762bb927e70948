"""First fit (``solver/night_greedy.py``): its scan jumps over starts that cannot work, and must place exactly what
a scan of every grid minute places."""

import random

import pytest

from bench.instances import generate
from solver import night_greedy
from solver.intervals import contains, grid_points, normalize
from solver.night_greedy import Book, place_greedily
from solver.plans import Placement, blocked


def every_minute(problem, book, waiting, starts, clinician):
    """First fit by definition: each grid minute of ``starts`` in turn, the first clinician, room and units free."""
    kind = waiting.kind

    def free(role, candidates, count, start, cleaning):
        chosen = [c.id for c in candidates
                  if contains(c.free, *blocked(kind, start, c.cleaning if cleaning else 0))
                  and book.free((role, c.id), *blocked(kind, start, c.cleaning if cleaning else 0))]
        return chosen[:count] if len(chosen) >= count else None

    for start in grid_points(normalize(starts), problem.grid, problem.grid_origin):
        if not book.free(("patient", waiting.patient), start, start + kind.duration):
            continue
        who = free("clinician", [c for c in kind.clinicians if clinician in (None, c.id)], 1, start, False)
        room = free("room", kind.rooms, 1, start, False) if kind.needs_room else [None]
        units = [free("device", pool.units, pool.count, start, True) for pool in kind.devices]
        if who and room and all(u is not None for u in units):
            return Placement(waiting.key, 0, start, who[0], room[0], tuple(sorted(u for us in units for u in us)))
    return None


@pytest.mark.parametrize("family", ["demo", "pt", "sports", "hospital"])
@pytest.mark.parametrize("booked_share, capacity", [(0.0, "normal"), (0.8, "normal"), (None, "tight")])
def test_the_jumping_scan_places_what_a_scan_of_every_minute_places(monkeypatch, family, booked_share, capacity):
    """Device pools of two units, cleaning times, buffers, lunch breaks, teams and spacing in days and hours (the
    families have them all): the same placement for every session, in the same order."""
    problem = generate(family, 300, 3, booked_share=booked_share, capacity=capacity).problem
    jumping = place_greedily(problem)
    monkeypatch.setattr(night_greedy, "earliest", every_minute)
    stepping = place_greedily(problem)
    assert len(stepping) > len(problem.booked)  # the night places something, so the comparison says something
    assert jumping == stepping


def test_first_clear_is_the_earliest_start_that_fits_and_meets_no_busy_span():
    rng = random.Random(7)
    for _ in range(300):
        book = Book()
        free = normalize((low, low + rng.randint(10, 120)) for low in rng.sample(range(0, 600, 5), 6))
        for low in rng.sample(range(0, 600, 5), rng.randint(0, 8)):
            length = rng.choice([15, 30])
            if book.free(("room", 1), low, low + length):  # a resource's spans never overlap
                book.take(("room", 1), low, low + length)
        before, after, start = rng.choice([0, 5, 10]), rng.choice([15, 30, 45]), rng.randint(0, 500)
        for shift in (free, None):
            fits = [t for t in range(start, 800) if book.free(("room", 1), t - before, t + after)
                    and (shift is None or contains(shift, t - before, t + after))]
            expected = fits[0] if fits else float("inf")
            assert book.first_clear(("room", 1), shift, start, before, after) == expected
            # told that a start is already known at ``stop``, it may give up there, never report later than the truth
            stop = start + 20
            found = book.first_clear(("room", 1), shift, start, before, after, stop=stop)
            assert found == expected if expected < stop else found >= stop
