// One day at one location, as the desk runs it: who arrives (the day's sessions in the location's zone) with Check
// in, Complete and No-show, and the holds the nightly run placed that wait for the desk to confirm with the patient.
import { action, api, busy, element, notice, onSubmit, table } from "../core.js";
import { addDays, dayLabel, dayStart, timeOf, today, when, zoneLabel } from "../clinic-time.js";
import {
  STATES, confirmHold, directory, emptyRow, every, fullName, liveHold, patientLink, patientsNamed, wallDate,
} from "../front-desk.js";
import { messageTable, messagesAt, messagesCard } from "../messages.js";

const ARRIVING = ["booked", "arrived", "fulfilled", "noshow"];
// The nightly run's holds last hours, at most days (nightly_hold_minutes): older runs have none still open.
const RECENT_RUNS = 20;
const STEPS = { booked: [["Check in", "check-in"], ["No-show", "no-show"]], arrived: [["Complete", "complete"]] };
const DONE = { "check-in": "is checked in", complete: "completed the session", "no-show": "is marked a no-show" };

export async function open() {
  const names = await directory();
  const form = document.getElementById("day-form");
  const { location_id: where, day } = form.elements;
  where.replaceChildren(...names.locations.map((location) => element("option", location.name,
    { value: location.id })));
  const link = new URLSearchParams(location.search);
  if (link.get("location_id") && names.places[link.get("location_id")]) where.value = link.get("location_id");
  const place = () => names.place(where.value);
  day.value = link.get("day") || today(place());
  const show = async () => {
    history.replaceState(null, "", `?${new URLSearchParams({ location_id: where.value, day: day.value })}`);
    await Promise.all([showArrivals(names, Number(where.value), day.value),
      showNightHolds(names, Number(where.value)), showMessageProblems(names, Number(where.value))]);
  };
  onSubmit(form, show);
  for (const [id, next] of [["previous-day", () => addDays(day.value, -1)], ["this-day", () => today(place())],
    ["next-day", () => addDays(day.value, 1)]]) {
    const button = document.getElementById(id);
    button.addEventListener("click", () => busy(button, () => {
      day.value = next();
      return show();
    }));
  }
  await show();
}

function arrivalsSummary(sessions, place) {
  const counted = ARRIVING.map((state) => [sessions.filter((s) => s.status === state).length, STATES[state]]);
  return `${counted.map(([n, state]) => `${n} ${state}`).join(" · ")}. Times are ${zoneLabel(place)}.`;
}

async function showArrivals(names, locationId, day) {
  const place = names.place(locationId);
  const query = new URLSearchParams({ location_id: locationId, start: dayStart(day, place),
    end: dayStart(addDays(day, 1), place) });
  for (const state of ARRIVING) query.append("status", state);
  const sessions = await every(`appointments?${query}`);
  const patients = await patientsNamed(sessions.map((session) => session.patient_id));
  document.getElementById("arrivals-title").textContent = `Arrivals at ${place.name}, ${dayLabel(day, place)}`;
  document.getElementById("arrivals-summary").textContent = arrivalsSummary(sessions, place);
  const box = document.getElementById("arrivals");
  if (!sessions.length) {
    box.replaceChildren(emptyRow(`Nobody is booked at ${place.name} that day.`,
      { text: "Book sessions on the Book page.", href: "/app/desk" }));
    return;
  }
  const refresh = () => showArrivals(names, locationId, day);
  box.replaceChildren(table([`Time (${zoneLabel(place)})`, "Patient", "Service", "Clinician", "Room", "State",
    "Actions"], sessions.map((session) => {
    const patient = patients[session.patient_id];
    const who = patient ? fullName(patient) : `Patient #${session.patient_id}`;
    const actions = element("span", undefined, { class: "actions" });
    actions.append(...(STEPS[session.status] || []).map(([label, path]) => action(label, async () => {
      await api(`appointments/${session.id}/${path}`, { method: "POST", version: session.version });
      notice(`${who} ${DONE[path]} (${names.service(session.service_id)}, ${timeOf(session.start, place)}).`, "ok");
      await refresh();
    }, { "aria-label": `${label}: ${who}` })));
    return [`${timeOf(session.start, place)}–${timeOf(session.end, place)}`, patientLink(patient, session.patient_id),
      names.service(session.service_id), names.clinician(session.clinician_id), names.room(session.room_id),
      STATES[session.status], actions];
  }), { class: "records", id: "arrivals-list" }));
}

async function nightPlaced(locationId) {
  // Which live holds the nightly runs placed, with the run and what each is for (a hold carries no mark of its own).
  const holds = await api(`optimization-runs/night-holds?location_id=${locationId}&runs=${RECENT_RUNS}`);
  return new Map(holds.map((hold) => [hold.appointment_id, hold]));
}

function placedFor(hold, place) {
  const what = hold.action === "waitlist_hold" ? "the waitlist"
    : `treatment plan ${hold.plan_id}, session ${hold.sequence}`;
  return `${what} (run of ${wallDate(hold.run_date, place)})`;
}

async function showNightHolds(names, locationId) {
  const place = names.place(locationId);
  const placed = await nightPlaced(locationId);
  const query = new URLSearchParams({ location_id: locationId, status: "pending", start: new Date().toISOString() });
  const holds = placed.size ? (await every(`appointments?${query}`))
    .filter((hold) => placed.has(hold.id) && liveHold(hold)) : [];
  const patients = await patientsNamed(holds.map((hold) => hold.patient_id));
  const box = document.getElementById("night-holds");
  if (!holds.length) {
    box.replaceChildren(emptyRow(`No hold from the nightly run at ${place.name} waits for confirmation.`,
      { text: "See what the runs did on the Nightly runs page.", href: `/app/runs?location_id=${locationId}` }));
    return;
  }
  const refresh = () => showNightHolds(names, locationId);
  box.replaceChildren(table([`When (${zoneLabel(place)})`, "Patient", "Service", "Clinician", "Room", "Held until",
    "For", "Actions"], holds.map((hold) => {
    const patient = patients[hold.patient_id];
    const who = patient ? fullName(patient) : `Patient #${hold.patient_id}`;
    const at = when(hold.start, place);
    const actions = element("span", undefined, { class: "actions" });
    actions.append(confirmHold(hold, async () => {
      notice(`Booked ${who} for ${names.service(hold.service_id)}, ${at}.`, "ok");
      await refresh();
    }, { who }), action("Release", async () => {
      await api(`holds/${hold.id}`, { method: "DELETE" });
      notice(`Released ${at} held for ${who}: the time is free for others.`, "ok");
      await refresh();
    }, { "aria-label": `Release: ${who}` }));
    return [at, patientLink(patient, hold.patient_id), names.service(hold.service_id),
      names.clinician(hold.clinician_id), names.room(hold.room_id), when(hold.hold_expires_at, place),
      placedFor(placed.get(hold.id), place), actions];
  }), { class: "records", id: "night-holds-list" }));
}

async function showMessageProblems(names, locationId) {
  // Messages to patients of this location that were given up or may not have arrived: call, then Retry or Dismiss.
  const place = names.place(locationId);
  const box = messagesCard(document.getElementById("main"), { id: "message-problems",
    title: "Messages that did not reach patients", intro: "Given up after failing, or a text that may or may not "
      + "have arrived. Call the patient if it matters, then Retry (after correcting the address) or Dismiss." });
  const messages = await messagesAt(`messages?${new URLSearchParams({ location_id: locationId })}`);
  if (!messages.length) {
    box.replaceChildren(emptyRow(`Every message to patients of ${place.name} went out or is on its way.`));
    return;
  }
  box.replaceChildren(messageTable(messages, names.place, { withPatient: true,
    done: () => showMessageProblems(names, locationId),
    attributes: { id: "message-problems-list", "aria-label": "Messages that did not reach patients" } }));
}
