"""Reading an .ics the way other calendar software does: ical.js (Thunderbird) and four Python parsers.

Each reader answers ``{uid: (start, end)}`` as UTC instants, for comparing with what zoneinfo says. They
differ in where a TZID's rules come from, which is why there are several:
- ical.js has no zone database: the document's VTIMEZONE is all it knows (run by ``node``, from ``npm ci``);
- vobject reads the VTIMEZONE (through dateutil's ``tzical``);
- icalendar, ics and ical (Home Assistant's) look a known TZID up in the system's zone database.
``shown_on_its_clock`` reads the VTIMEZONE alone, as icalendar and vobject turn it into a ``tzinfo``, and
shows UTC instants on that clock: what an app converting from UTC with the document's definition shows.
ical.js is left out there: its UTC-to-zone conversion reads the UTC time as local time
(kewisch/ical.js#847), so it is an hour off near every change whatever the VTIMEZONE says.
"""

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import ics
import vobject
import vobject.icalendar
from ical.calendar_stream import IcsCalendarStream

ICAL_JS = Path(__file__).with_name("ical_js_events.mjs")
Events = dict[str, tuple[datetime, datetime]]
Clock = tuple[datetime, timedelta]


def ical_js(document: bytes) -> tuple[Events, dict[str, str]]:
    """The events, and each one's zone as ical.js's TimezoneService knows it ("UTC" for a time given in UTC)."""
    done = subprocess.run(["node", str(ICAL_JS)], input=document, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    events = json.loads(done.stdout)
    zones = {event["uid"]: event["tzid"] if event["registered"] or event["tzid"] == "UTC" else "unknown"
             for event in events}
    return {event["uid"]: (_utc(event["start"]), _utc(event["end"])) for event in events}, zones


def by_python_parsers(document: bytes) -> dict[str, Events]:
    text = document.decode()
    _forget_vobject_zones(text)
    return {
        "icalendar": {str(e["uid"]): (_utc(e.decoded("dtstart")), _utc(e.decoded("dtend")))
                      for e in icalendar.Calendar.from_ical(text).walk("VEVENT")},
        "vobject": {e.uid.value: (_utc(e.dtstart.value), _utc(e.dtend.value))
                    for e in vobject.readOne(text).vevent_list},
        "ics": {e.uid: (_utc(e.begin.datetime), _utc(e.end.datetime)) for e in ics.Calendar(text).events},
        "ical": {e.uid: (_utc(e.dtstart), _utc(e.dtend)) for e in IcsCalendarStream.calendar_from_ics(text).events},
    }


def shown_on_its_clock(document: bytes, tzid: str, instants: list[datetime]) -> dict[str, list[Clock]]:
    """The instants on the clock of the document's VTIMEZONE ``tzid`` (wall time and UTC offset), as
    icalendar and vobject read that definition."""
    text = document.decode()
    (definition,) = [z for z in icalendar.Calendar.from_ical(text).timezones if z.tz_name == tzid]
    (component,) = [z for z in vobject.readOne(text).vtimezone_list if z.tzid.value == tzid]
    return {reader: [clock(instant.astimezone(zone)) for instant in instants]
            for reader, zone in (("icalendar", definition.to_tz(lookup_tzid=False)),
                                 ("vobject", component.gettzinfo()))}


def clock(local: datetime) -> Clock:
    return local.replace(tzinfo=None), local.utcoffset()


def observances(vtimezone: icalendar.Timezone) -> list[tuple[str, str, str, str, str]]:
    """A VTIMEZONE's observances as written: kind, DTSTART, TZOFFSETFROM, TZOFFSETTO, TZNAME."""
    return [(o.name, o["dtstart"].to_ical().decode(), o["tzoffsetfrom"].to_ical(), o["tzoffsetto"].to_ical(),
             str(o["tzname"])) for o in vtimezone.subcomponents]


def _forget_vobject_zones(text: str) -> None:
    """vobject keeps the first definition it read of a TZID for the life of the process: forget it, so
    this document's own VTIMEZONE is read."""
    for tzid in re.findall(r"^TZID:(.+?)\r?$", text, re.MULTILINE):
        vobject.icalendar.registerTzid(tzid, None)


def _utc(moment: datetime | str) -> datetime:
    if isinstance(moment, str):
        return datetime.fromisoformat(moment)
    assert moment.tzinfo is not None, f"{moment} has no zone"
    return moment.astimezone(UTC)
