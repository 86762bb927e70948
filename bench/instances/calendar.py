"""A clinic's fortnight in its own time zone: local days and clock times as UTC minutes, and spacing windows.

Two families run across a daylight-saving change on purpose (a 23- and a
25-hour day), so "days apart" and "hours apart" differ there and local
clock times move against UTC, as they do at real clinics twice a year.
"""

from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from solver.intervals import Intervals
from solver.night_problem import DAY


@dataclass(frozen=True)
class Fortnight:
    """``days`` local calendar days from ``first`` (a Monday) in ``zone``."""

    zone: str
    first: date
    days: int = 14

    def at(self, day: int, minute_of_day: int) -> int:
        """UTC minutes of local clock time ``minute_of_day`` on day ``day`` (a day counts from 0)."""
        day, minute_of_day = day + minute_of_day // (24 * 60), minute_of_day % (24 * 60)
        moment = datetime.combine(self.first + timedelta(days=day), datetime.min.time(), ZoneInfo(self.zone))
        moment = moment.replace(hour=minute_of_day // 60, minute=minute_of_day % 60)
        return int(moment.timestamp()) // 60

    @cached_property
    def day_starts(self) -> tuple[int, ...]:
        return tuple(self.at(day, 0) for day in range(self.days))

    def weekday(self, day: int) -> int:
        """0 Monday ... 6 Sunday."""
        return (self.first + timedelta(days=day)).weekday()

    def day_of(self, minute: int) -> int:
        return max(bisect_right(self.day_starts, minute) - 1, 0)

    def span(self, day: int, low: int, high: int) -> tuple[int, int]:
        """Local clock times ``low``-``high`` (minutes of the day) on day ``day``, in UTC minutes."""
        return self.at(day, low), self.at(day, high)

    def starts_within(self, day: int, low: int, high: int, duration: int) -> Intervals:
        """The starts at which a session of ``duration`` minutes lies inside local ``low``-``high`` on ``day``."""
        begin, end = self.span(day, low, high)
        return [(begin, end - duration + 1)] if end - begin >= duration else []

    def after(self, start: int, duration: int, min_days: int | None = None, max_days: int | None = None,
              min_hours: int | None = None, max_hours: int | None = None) -> tuple[int, int]:
        """The starts a spacing rule leaves for the next session once one started at ``start`` (half-open)."""
        day = self.day_of(start)
        low = max(start + duration, start + 60 * (min_hours or 0))
        if min_days:
            low = max(low, self.at(day + min_days, 0))
        high = start + 400 * DAY
        if max_days is not None:
            high = min(high, self.at(day + max_days + 1, 0))
        if max_hours is not None:
            high = min(high, start + 60 * max_hours + 1)
        return low, high

    def before(self, start: int, duration: int, min_days: int | None = None, max_days: int | None = None,
               min_hours: int | None = None, max_hours: int | None = None) -> tuple[int, int]:
        """The starts a spacing rule leaves for a session of ``duration`` that must come before one at ``start``."""
        day = self.day_of(start)
        high = min(start - duration + 1, start - 60 * (min_hours or 0) + 1)
        if min_days:
            high = min(high, self.at(day - min_days + 1, 0))
        low = start - 400 * DAY
        if max_days is not None:
            low = max(low, self.at(day - max_days, 0))
        if max_hours is not None:
            low = max(low, start - 60 * max_hours)
        return low, high
