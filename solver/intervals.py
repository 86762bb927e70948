"""Arithmetic on sets of half-open time intervals ``[start, end)`` in whole minutes.

A set is a list of ``(start, end)`` pairs, sorted, disjoint and not touching
(:func:`normalize` makes one from anything). Everything here is pure and works
in linear time over its inputs, so availability over a week costs the number
of intervals in that week, not the number of minutes.
"""

from bisect import bisect_right
from collections.abc import Iterable, Sequence

Interval = tuple[int, int]
Intervals = list[Interval]


def normalize(intervals: Iterable[Interval]) -> Intervals:
    """Sort, drop empty intervals and merge those that overlap or touch."""
    merged: Intervals = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def union(*sets: Intervals) -> Intervals:
    return normalize(interval for intervals in sets for interval in intervals)


def intersect(a: Intervals, b: Intervals) -> Intervals:
    result: Intervals = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            result.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return result


def intersect_all(sets: Sequence[Intervals]) -> Intervals:
    if not sets:
        return []
    result = sets[0]
    for intervals in sets[1:]:
        result = intersect(result, intervals)
    return result


def subtract(a: Intervals, b: Intervals) -> Intervals:
    """The parts of ``a`` outside ``b``."""
    result: Intervals = []
    j = 0
    for start, end in a:
        while j < len(b) and b[j][1] <= start:
            j += 1
        k, cursor = j, start
        while k < len(b) and b[k][0] < end:
            if b[k][0] > cursor:
                result.append((cursor, b[k][0]))
            cursor = max(cursor, b[k][1])
            k += 1
        if cursor < end:
            result.append((cursor, end))
    return result


def starts_fitting(free: Intervals, before: int, after: int) -> Intervals:
    """Start times ``s`` whose span ``[s - before, s + after)`` lies inside one free interval.

    ``before`` is what the span reaches back before the start (a buffer),
    ``after`` what it reaches forward (duration, buffer, cleaning). The result
    is a set of starts, as closed-open intervals of allowed start minutes.
    """
    return [(start + before, end - after + 1) for start, end in free if end - after + 1 > start + before]


def at_least(sets: Sequence[Intervals], count: int) -> Intervals:
    """Times covered by at least ``count`` of the sets (e.g. two of three ultrasound units free)."""
    if count <= 0:
        raise ValueError("count must be positive")
    events = sorted([(start, 1) for s in sets for start, _ in s] + [(end, -1) for s in sets for _, end in s])
    result: Intervals = []
    depth, opened = 0, None
    for time, step in events:
        depth += step
        if depth >= count and opened is None:
            opened = time
        elif depth < count and opened is not None:
            result.append((opened, time))
            opened = None
    return normalize(result)


def contains(intervals: Intervals, start: int, end: int) -> bool:
    """Whether ``[start, end)`` lies inside one interval of the set."""
    index = bisect_right(intervals, (start, float("inf"))) - 1
    return index >= 0 and intervals[index][0] <= start and end <= intervals[index][1]


def enclosing(intervals: Intervals, start: int, end: int) -> Interval | None:
    """The interval of the set that holds ``[start, end)``, if one does."""
    index = bisect_right(intervals, (start, float("inf"))) - 1
    if index >= 0 and intervals[index][0] <= start and end <= intervals[index][1]:
        return intervals[index]
    return None


def grid_points(intervals: Intervals, step: int, origin: int = 0) -> Iterable[int]:
    """Minutes ``t`` in the set with ``(t - origin) % step == 0``, in order."""
    for start, end in intervals:
        first = start + (-(start - origin)) % step
        yield from range(first, end, step)


def total(intervals: Intervals) -> int:
    return sum(end - start for start, end in intervals)
