"""Interval arithmetic against a brute-force oracle that looks at every minute."""

from hypothesis import given
from hypothesis import strategies as st

from solver.intervals import (
    at_least,
    contains,
    enclosing,
    grid_points,
    intersect,
    normalize,
    starts_fitting,
    subtract,
    union,
)

HORIZON = 200
raw = st.lists(st.tuples(st.integers(0, HORIZON), st.integers(0, HORIZON)).map(sorted).map(tuple), max_size=8)
sets = raw.map(normalize)


def minutes(intervals) -> set[int]:
    return {m for start, end in intervals for m in range(start, end)}


def is_normal(intervals) -> bool:
    return all(s < e for s, e in intervals) and all(a[1] < b[0] for a, b in zip(intervals, intervals[1:]))


@given(raw)
def test_normalize_keeps_the_minutes_and_the_shape(intervals):
    result = normalize(intervals)
    assert is_normal(result)
    assert minutes(result) == minutes(intervals)


@given(sets, sets)
def test_union_intersect_subtract(a, b):
    for result, expected in [
        (union(a, b), minutes(a) | minutes(b)),
        (intersect(a, b), minutes(a) & minutes(b)),
        (subtract(a, b), minutes(a) - minutes(b)),
    ]:
        assert is_normal(result)
        assert minutes(result) == expected


@given(sets, st.integers(0, 30), st.integers(1, 60))
def test_starts_fitting_matches_checking_each_start(free, before, after):
    free_minutes = minutes(free)
    expected = {
        s for s in range(-60, HORIZON + 60)
        if all(m in free_minutes for m in range(s - before, s + after))
        and any(start <= s - before and s + after <= end for start, end in free)
    }
    assert minutes(starts_fitting(free, before, after)) == expected


@given(st.lists(sets, min_size=1, max_size=4), st.integers(1, 4))
def test_at_least_counts_coverage_minute_by_minute(many, count):
    expected = {m for m in range(HORIZON + 1) if sum(m in minutes(s) for s in many) >= count}
    result = at_least(many, count)
    assert is_normal(result)
    assert minutes(result) == expected


@given(sets, st.integers(0, HORIZON), st.integers(1, 50))
def test_contains_and_enclosing(intervals, start, length):
    end = start + length
    inside = any(s <= start and end <= e for s, e in intervals)
    assert contains(intervals, start, end) == inside
    window = enclosing(intervals, start, end)
    assert (window is not None) == inside
    if window:
        assert window[0] <= start and end <= window[1]


@given(sets, st.integers(1, 30), st.integers(-50, 50))
def test_grid_points_are_every_aligned_minute(intervals, step, origin):
    expected = sorted(m for m in minutes(intervals) if (m - origin) % step == 0)
    assert list(grid_points(intervals, step, origin)) == expected
