// Every date and time the app reads or shows is the location's wall clock, in the location's locale, whatever zone
// the browser is in. A "place" is { zone, locale } from a location record; Luxon does the zone arithmetic.
import { DateTime, Info } from "/vendor/luxon.js";

export const placeOf = (location) => ({ zone: location.time_zone, locale: location.locale || "en-US",
  name: location.name });

function moment(iso, place) {
  // Without a place, the instant keeps the offset the API sent (the location's); with one, it is shown in its zone.
  const parsed = DateTime.fromISO(iso, { setZone: true });
  return place ? parsed.setZone(place.zone).setLocale(place.locale) : parsed.setLocale("en-US");
}

export const timeOf = (iso, place) => moment(iso, place).toLocaleString(DateTime.TIME_SIMPLE);
export const dateOf = (iso, place) => moment(iso, place).toLocaleString({ weekday: "short", month: "short",
  day: "numeric" });
export const when = (iso, place) => `${dateOf(iso, place)} ${timeOf(iso, place)}`;
export const span = (startIso, endIso, place) => `${when(startIso, place)}–${timeOf(endIso, place)}`;
export const wallDay = (iso, place) => moment(iso, place).toISODate();
export const minutesOfDay = (iso, place) => { const t = moment(iso, place); return t.hour * 60 + t.minute; };

export function dayLabel(day, place) {
  return DateTime.fromISO(day, { zone: place.zone }).setLocale(place.locale)
    .toLocaleString({ weekday: "long", month: "long", day: "numeric", year: "numeric" });
}

export const today = (place) => DateTime.now().setZone(place.zone).toISODate();
export const addDays = (day, days) => DateTime.fromISO(day, { zone: "UTC" }).plus({ days }).toISODate();
export const weekStart = (day) => DateTime.fromISO(day, { zone: "UTC" }).startOf("week").toISODate();

// Local midnight of a wall date, as an instant with the location's offset (what the API's start/end take).
export const dayStart = (day, place) => DateTime.fromISO(day, { zone: place.zone }).startOf("day").toISO();

// The calendar component knows no IANA zones (only fixed offsets, wrong across a clock change), so it runs in UTC
// and is given wall-clock strings without an offset; everything it hands back is the location's wall clock again.
export const toWall = (iso, place) => moment(iso, place).toFormat("yyyy-LL-dd'T'HH:mm:ss");
export const fromWall = (wall, place) => DateTime.fromISO(wall, { zone: place.zone }).toISO();
export function wallOfCalendar(date) {
  // The calendar component hands back Dates whose browser-local fields hold the wall clock it showed (measured in
  // Chromium with the browser in UTC, Tokyo and New York), so those fields are read, never the instant.
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:`
    + `${pad(date.getMinutes())}:00`;
}

export const zoneLabel = (place) => `${place.zone.replace(/_/g, " ")} time`;
export const zoneAbbreviation = (iso, place) => moment(iso, place).toFormat("ZZZZ");

// A time of day as shifts and opening hours store it ("09:00:00", the location's wall clock), in its locale: "9:00 AM".
export const clockTime = (wall, place) => DateTime.fromISO(wall, { zone: "UTC" }).setLocale(place.locale)
  .toLocaleString(DateTime.TIME_SIMPLE);
// Weekday names in the location's locale, Monday first: index 0 is the API's weekday 0.
export const weekdayNames = (place, width = "long") => Info.weekdays(width, { locale: place.locale });
