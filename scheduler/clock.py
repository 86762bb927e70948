"""Turning the clinic's calendar into solver minutes and back.

The solver counts whole minutes since the Unix epoch in UTC. Weekly patterns
(shifts, breaks, opening hours) are local wall-clock times of the location's
zone and are turned into instants day by day, so daylight-saving days come out
right: on the spring-forward day 02:00-03:00 does not exist and a 09:00-17:00
shift is still eight hours, on the fall-back day a shift across 01:00-02:00 is
an hour longer.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from solver.intervals import Interval, Intervals, normalize


def to_minute(moment: datetime) -> int:
    return int(moment.timestamp()) // 60


def from_minute(minute: int, zone: ZoneInfo | None = None) -> datetime:
    moment = datetime.fromtimestamp(minute * 60, UTC)
    return moment.astimezone(zone) if zone else moment


def local_instant(day: date, at: time, zone: ZoneInfo) -> int:
    """The minute of a local wall-clock time; a time skipped by DST maps to the instant an hour later."""
    return to_minute(datetime.combine(day, at, tzinfo=zone))


def local_days(start: int, end: int, zone: ZoneInfo) -> list[date]:
    """Every local date touched by [start, end), plus one on each side for spans crossing midnight."""
    first = from_minute(start, zone).date() - timedelta(days=1)
    last = from_minute(end, zone).date() + timedelta(days=1)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def weekly(spans: Iterable[tuple[int, time, time]], days: list[date], zone: ZoneInfo) -> Intervals:
    """A weekly pattern of ``(weekday, starts, ends)`` laid out over the given local dates."""
    by_weekday: dict[int, list[tuple[time, time]]] = {}
    for weekday, starts, ends in spans:
        by_weekday.setdefault(weekday, []).append((starts, ends))
    return normalize(
        (local_instant(day, starts, zone), local_instant(day, ends, zone))
        for day in days
        for starts, ends in by_weekday.get(day.weekday(), ())
    )


def daily(starts: time, ends: time, days: list[date], zone: ZoneInfo) -> Intervals:
    """The same local time window every day (e.g. 'mornings only')."""
    return weekly(((weekday, starts, ends) for weekday in range(7)), days, zone)


def instants(windows: Iterable[tuple[datetime, datetime]]) -> Intervals:
    """Absolute windows (time off, maintenance, allocations) as minutes, rounded outwards."""
    return normalize(span(start, end) for start, end in windows)


def span(start: datetime, end: datetime) -> Interval:
    return to_minute(start), -(-int(end.timestamp()) // 60)
