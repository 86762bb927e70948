"""VTIMEZONEs from zoneinfo: each onset on the clock before the change (RFC 5545 3.6.5), in both hemispheres.

No database: the definitions are checked as written, then as other software reads them back.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar, Event

from scheduler.vtimezone import add_timezones, vtimezone
from tests.ics_readers import by_python_parsers, clock, ical_js, observances, shown_on_its_clock

YEAR = (date(2027, 1, 1), date(2027, 12, 31))
# (kind, DTSTART, TZOFFSETFROM, TZOFFSETTO, TZNAME) for 2027, from the change in force on 1 January
OBSERVANCES = {
    "America/New_York": [("STANDARD", "20261101T020000", "-0400", "-0500", "EST"),
                         ("DAYLIGHT", "20270314T020000", "-0500", "-0400", "EDT"),
                         ("STANDARD", "20271107T020000", "-0400", "-0500", "EST")],
    "Europe/Berlin": [("STANDARD", "20261025T030000", "+0200", "+0100", "CET"),
                      ("DAYLIGHT", "20270328T020000", "+0100", "+0200", "CEST"),
                      ("STANDARD", "20271031T030000", "+0200", "+0100", "CET")],
    "Australia/Sydney": [("DAYLIGHT", "20261004T020000", "+1000", "+1100", "AEDT"),
                         ("STANDARD", "20270404T030000", "+1100", "+1000", "AEST"),
                         ("DAYLIGHT", "20271003T020000", "+1000", "+1100", "AEDT")],
    "Asia/Kolkata": [("STANDARD", "20270101T053000", "+0530", "+0530", "IST")],
}


@pytest.mark.parametrize("tzid", OBSERVANCES)
def test_each_change_starts_on_the_clock_before_it(tzid):
    assert observances(vtimezone(ZoneInfo(tzid), *YEAR)) == OBSERVANCES[tzid]


def around_each_change(tzid: str) -> list[datetime]:
    """Every half hour from two hours before to two hours after each 2027 change (or 1 January)."""
    zone = ZoneInfo(tzid)
    onsets = [datetime.strptime(dtstart, "%Y%m%dT%H%M%S").replace(tzinfo=UTC) - timedelta(
        hours=int(offset[:3]), minutes=int(offset[0] + offset[3:])) for _, dtstart, offset, _, _ in OBSERVANCES[tzid]
        if dtstart.startswith("2027")]
    return [(onset + timedelta(minutes=30 * step)).astimezone(zone) for onset in onsets for step in range(-4, 5)]


def shown_twice(moment: datetime) -> bool:
    return moment.replace(fold=1 - moment.fold).utcoffset() != moment.utcoffset()


@pytest.mark.parametrize("tzid", OBSERVANCES)
def test_software_that_reads_the_definition_shows_zoneinfo_s_clock(tzid):
    """icalendar and vobject turn the VTIMEZONE into a tzinfo: every instant around each change shows the same
    wall time and offset as zoneinfo."""
    calendar = Calendar()
    calendar.add_component(vtimezone(ZoneInfo(tzid), *YEAR))
    moments = around_each_change(tzid)
    for reader, shown in shown_on_its_clock(calendar.to_ical(), tzid, [m.astimezone(UTC) for m in moments]).items():
        assert shown == [clock(moment) for moment in moments], reader


def test_events_in_four_zones_read_back_as_their_instants_in_ical_js_and_python_parsers():
    """Every local time around each 2027 change that the clock shows once, in four zones, as an event with
    its TZID: ical.js (which knows the zones only from the VTIMEZONEs) and the Python parsers read back the
    instant zoneinfo gives."""
    calendar = Calendar()
    calendar.add("prodid", "-//test//EN")
    calendar.add("version", "2.0")
    truth = {}
    for tzid in OBSERVANCES:
        for start in around_each_change(tzid):
            end = (start.astimezone(UTC) + timedelta(minutes=30)).astimezone(start.tzinfo)
            if shown_twice(start) or shown_twice(end):
                continue  # the feed gives these in UTC
            event = Event()
            event.add("uid", f"{tzid}-{start.isoformat()}")
            event.add("dtstamp", datetime(2027, 1, 1, tzinfo=UTC))
            event.add("dtstart", start)
            event.add("dtend", end)
            calendar.add_component(event)
            truth[str(event["uid"])] = (start.astimezone(UTC), end.astimezone(UTC))
    add_timezones(calendar)
    assert [tz["tzid"] for tz in calendar.walk("VTIMEZONE")] == sorted(OBSERVANCES)
    document = calendar.to_ical()
    events, zones = ical_js(document)
    assert events == truth and set(zones.values()) == set(OBSERVANCES)
    for parser, read in by_python_parsers(document).items():
        assert read == truth, parser
