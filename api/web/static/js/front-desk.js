// What the front desk's patient and list pages (patients, waitlist, today) share: every item of a paged list, names
// for the ids the API answers with, the words for a session's state, and how a waitlist request reads.
// Dates and times are the location's (see ./clinic-time.js); plain wall dates and times are formatted as they are.
import { DateTime } from "/vendor/luxon.js";
import { action, api, ask, element } from "./core.js";
import { placeOf, when, zoneAbbreviation, zoneLabel } from "./clinic-time.js";

export const STATES = { pending: "held", booked: "booked", arrived: "checked in", fulfilled: "attended",
  cancelled: "cancelled", noshow: "no-show" };
const PAGE = 200; // the API's largest page

export async function every(path) {
  // Every item of a paged list, a page at a time.
  const items = [];
  const join = path.includes("?") ? "&" : "?";
  for (;;) {
    const page = await api(`${path}${join}limit=${PAGE}&offset=${items.length}`);
    items.push(...page.items);
    if (!page.items.length || items.length >= page.total) return items;
  }
}

const byId = (items) => Object.fromEntries(items.map((item) => [item.id, item]));

export async function directory() {
  // Services, clinicians and rooms (archived ones too: past sessions name them) and locations with their places.
  const lists = await Promise.all([
    ...["services", "clinicians", "rooms"].flatMap((kind) => [every(kind), every(`${kind}?archived=true`)]),
    every("locations")]);
  const [services, clinicians, rooms] = [0, 2, 4].map((at) => byId([...lists[at], ...lists[at + 1]]));
  const locations = lists[6];
  const places = Object.fromEntries(locations.map((location) => [location.id, placeOf(location)]));
  const name = (records, id) => (id === null || id === undefined ? "—" : (records[id] || {}).name || `#${id}`);
  return {
    services, clinicians, rooms, locations, places,
    service: (id) => name(services, id),
    clinician: (id) => name(clinicians, id),
    room: (id) => name(rooms, id),
    place: (id) => places[id] || placeOf(locations[0]),
  };
}

export async function patientsNamed(ids) {
  // The patients a list of sessions or requests names, asked for a page of ids at a time.
  const wanted = [...new Set(ids)];
  const found = {};
  for (let at = 0; at < wanted.length; at += PAGE) {
    const query = new URLSearchParams({ limit: PAGE });
    for (const id of wanted.slice(at, at + PAGE)) query.append("id", id);
    for (const patient of (await api(`patients?${query}`)).items) found[patient.id] = patient;
  }
  return found;
}

export const fullName = (patient) => `${patient.given_name} ${patient.family_name}`;

export function patientLink(patient, id) {
  // The patient's page; a patient the list could not name (erased meanwhile) is still told apart by id.
  if (!patient) return `patient #${id}`;
  return element("a", fullName(patient), { href: `/app/patients?id=${patient.id}` });
}

export function timesHeading(label, places) {
  // "When (America/New York time)" when every row is in one zone; otherwise each time carries its zone.
  const zones = new Set(places.map((place) => place.zone));
  return zones.size === 1 ? `${label} (${zoneLabel(places[0])})` : label;
}

export function zoned(text, iso, place, places) {
  return new Set(places.map((p) => p.zone)).size > 1 ? `${text} ${zoneAbbreviation(iso, place)}` : text;
}

// A waitlist request's days and daily window are wall-clock values of whichever location serves it.
export function wallZoneLabel(names) {
  const zones = new Set(names.locations.map((location) => location.time_zone));
  return zones.size === 1 ? zoneLabel(names.place()) : "the local time of the location that serves the session";
}
export const wallDate = (day, place) => DateTime.fromISO(day, { zone: "UTC" }).setLocale(place.locale)
  .toLocaleString({ weekday: "short", month: "short", day: "numeric" });
const wallTime = (clock, place) => DateTime.fromISO(`2000-01-01T${clock}`, { zone: "UTC" }).setLocale(place.locale)
  .toLocaleString(DateTime.TIME_SIMPLE);

export const birthDay = (day, place) => DateTime.fromISO(day, { zone: "UTC" }).setLocale(place.locale)
  .toLocaleString(DateTime.DATE_FULL);
export const waitDays = (request, place) => (request.earliest_day === request.latest_day
  ? wallDate(request.earliest_day, place)
  : `${wallDate(request.earliest_day, place)} – ${wallDate(request.latest_day, place)}`);
export const waitHours = (request, place) => `${wallTime(request.earliest_time, place)} – `
  + `${wallTime(request.latest_time, place)}`;
export const PRIORITIES = { 5: "5 (highest)", 4: "4", 3: "3 (normal)", 2: "2", 1: "1 (lowest)" };

export const liveHold = (appointment) => appointment.status === "pending"
  && Date.parse(appointment.hold_expires_at) > Date.now(); // instants compared: no zone involved

export function offerWords(request, names) {
  // What became of the hold offered to a waiting patient, in the offer's location's time.
  const offer = request.offer;
  if (request.status === "closed") return "closed";
  if (!offer) return request.status === "booked" ? "booked" : "waiting, nothing offered yet";
  const place = names.place(offer.location_id);
  const at = `${when(offer.start, place)} at ${names.place(offer.location_id).name}`;
  if (request.status === "booked") {
    return offer.status === "booked" ? `booked for ${at}` : `booked for ${at} (now ${STATES[offer.status]})`;
  }
  if (liveHold(offer)) return `offered ${at}, held until ${when(offer.hold_expires_at, place)}`;
  return `the offer of ${at} lapsed (released or not confirmed in time)`;
}

export async function moveSession(id, body, version) {
  // Move a booked session. A treatment plan's session keeps its plan's rules: where a move breaks one the API
  // refuses, naming the rule, and the desk is asked whether the patient agreed to that time anyway.
  try {
    return await api(`appointments/${id}/reschedule`, { method: "POST", body, version });
  } catch (error) {
    if (error.status !== 409 || !/treatment plan's rules/.test(error.message)) throw error;
    const agreed = await ask(`This session is part of a treatment plan, and the move breaks the plan's rules `
      + `(${error.blockers.join("; ")}). Did the patient agree to this time anyway?`,
    { confirmLabel: "Move anyway", input: false });
    if (!agreed) throw new Error("the plan's rules were kept; choose another time");
    return api(`appointments/${id}/reschedule`, { method: "POST", body: { ...body, outside_plan: true }, version });
  }
}

export function confirmHold(appointment, done, { label = "Book", who }) {
  // Turn a hold placed for the desk (a waitlist offer, the nightly run's) into the patient's booking.
  return action(label, async () => {
    await api("appointments", { method: "POST", body: { hold_id: appointment.id }, version: appointment.version });
    await done();
  }, { "aria-label": `${label}: ${who}` });
}

export function emptyRow(text, link) {
  // An empty list says what to do next, with a link to the page where it is done.
  const box = element("p", text, { class: "muted empty" });
  if (link) box.append(" ", element("a", link.text, { href: link.href }));
  return box;
}
