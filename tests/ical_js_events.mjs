// Reads an iCalendar document on stdin and prints its events as ical.js (Thunderbird's parser) reads them.
//
// Usage: node tests/ical_js_events.mjs < feed.ics   (ical.js comes from `npm ci`: a devDependency)
// Every VTIMEZONE of the document is registered with ICAL.TimezoneService first; ical.js has no zone
// database of its own, so that definition is all it knows of a zone. Prints a JSON list with, per event,
// its UID, the TZID of its start (with whether the TimezoneService knows it) and its start and end as
// UTC instants.

import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const root = new ICAL.Component(ICAL.parse(readFileSync(0, "utf8")));
for (const vtimezone of root.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(vtimezone);
}

const utc = (time) => time.convertToZone(ICAL.Timezone.utcTimezone).toString();

const events = root.getAllSubcomponents("vevent").map((vevent) => {
  const event = new ICAL.Event(vevent);
  const tzid = event.startDate.zone.tzid;
  return {
    uid: event.uid,
    tzid,
    registered: ICAL.TimezoneService.has(tzid),
    start: utc(event.startDate),
    end: utc(event.endDate),
  };
});
process.stdout.write(JSON.stringify(events));
