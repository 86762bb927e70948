"""VTIMEZONE components built from the zoneinfo database, with each onset where RFC 5545 puts it.

A VTIMEZONE tells calendar apps that have no time zone database of their own
(ical.js, used by Thunderbird, among them) when the zone's clocks change. Each
change is an observance whose DTSTART is the local time of the change read on
the clock *before* it, in the TZOFFSETFROM offset (RFC 5545 section 3.6.5 and
its example; verified erratum 3740): New York springs forward at 02:00 EST
(``DAYLIGHT`` ``DTSTART:...T020000``) and falls back at 02:00 EDT
(``STANDARD`` ``DTSTART:...T020000``).

``icalendar`` (7.3, the newest) generates VTIMEZONEs itself
(``Timezone.from_tzinfo``, ``Calendar.add_missing_timezones``), but writes a
spring-forward onset as the first wall-clock time after the gap (``T030000``
for New York, Berlin and Sydney in October): read in TZOFFSETFROM, that puts
the change an hour late, and an app converting 03:00-04:00 EDT from UTC shows
it an hour early. No release or option changes that, so the observances are
computed here from zoneinfo and only written with icalendar's components.

zoneinfo does not list a zone's transitions, so they are found by reading the
offset once a day across the window and bisecting each change to the second:
a zone that changed twice within one day would be missed (none has in the
years a clinic books).
"""

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Timezone, TimezoneDaylight, TimezoneStandard

DAY = 24 * 60 * 60
LOOK_BACK = timedelta(days=366)


def add_timezones(calendar: Calendar) -> None:
    """A VTIMEZONE, placed first, for each zone the events' DTSTART and DTEND name, covering their days."""
    days: dict[str, list[date]] = defaultdict(list)
    for event in calendar.walk("VEVENT"):
        for moment in (event.decoded(name) for name in ("dtstart", "dtend") if name in event):
            if isinstance(getattr(moment, "tzinfo", None), ZoneInfo):
                days[moment.tzinfo.key].append(moment.astimezone(UTC).date())
    calendar.subcomponents[:0] = [vtimezone(ZoneInfo(key), min(days[key]), max(days[key])) for key in sorted(days)]


def vtimezone(zone: ZoneInfo, first_day: date, last_day: date) -> Timezone:
    """The zone from 00:00 UTC on ``first_day`` to the end of ``last_day`` (UTC).

    It opens with the change that set the clock in force at the start, with its own onset and TZOFFSETFROM
    (a DAYLIGHT observance whose TZOFFSETFROM equalled its TZOFFSETTO would read as no daylight saving at all
    to dateutil's ``tzical``, which vobject and icalendar use), then one observance per change of offset,
    daylight saving or abbreviation. A zone that has not changed for a year opens with its clock at the start.
    """
    start, end = (datetime.combine(day, time(), UTC) for day in (first_day, last_day + timedelta(days=1)))
    earlier = _changes(zone, start - LOOK_BACK, start)[-1:]
    component = Timezone()
    component.add("tzid", zone.key)
    if not earlier:
        component.add_component(_observance(zone, start, before=start))
    for change in earlier + _changes(zone, start, end):
        component.add_component(_observance(zone, change, before=change - timedelta(seconds=1)))
    return component


def _observance(zone: ZoneInfo, onset: datetime, *, before: datetime) -> TimezoneStandard | TimezoneDaylight:
    """The observance beginning at ``onset``, its DTSTART read on the clock in force at ``before``."""
    local, offset_from = onset.astimezone(zone), before.astimezone(zone).utcoffset()
    observance = TimezoneDaylight() if local.dst() else TimezoneStandard()
    observance.add("dtstart", (onset + offset_from).replace(tzinfo=None))
    observance.add("tzoffsetfrom", offset_from)
    observance.add("tzoffsetto", local.utcoffset())
    observance.add("tzname", local.tzname())
    return observance


def _changes(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """The instants in (start, end] from which the zone's clock reads differently, to the second."""
    def clock(seconds: int) -> tuple[timedelta, timedelta, str]:
        local = datetime.fromtimestamp(seconds, zone)
        return local.utcoffset(), local.dst(), local.tzname()

    changes = []
    last = int(end.timestamp())
    for day in range(int(start.timestamp()), last, DAY):
        low, high = day, min(day + DAY, last)
        if clock(low) != clock(high):
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if clock(middle) == clock(low) else (low, middle)
            changes.append(datetime.fromtimestamp(high, UTC))
    return changes
