// Patients: find one by name, phone, e-mail or date of birth, register a new one, and read one patient's page
// (/app/patients?id=N): sessions to come and past, treatment plans with their progress, waitlist entries and public
// requests still waiting for an answer. Times are the session's location's, labelled with its zone.
import { api, element, notice, onSubmit, reveal, table } from "../core.js";
import { span } from "../clinic-time.js";
import {
  STATES, birthDay, directory, every, fullName, offerWords, PRIORITIES, timesHeading, waitDays, waitHours, zoned,
  emptyRow, wallZoneLabel,
} from "../front-desk.js";
import { channelChoices, messageTable, messagesAt, messagesCard } from "../messages.js";

const PLAN_STATES = { draft: "draft (not proposed yet)", proposed: "proposed (held, not booked yet)",
  confirmed: "confirmed" };
const REQUEST_KINDS = { telehealth: "Telehealth visit", in_office: "In-office visit", move: "Move of a session" };
const RECENT = 50; // past sessions shown, the latest first
// What registering asks, and changing the details asks again.
const PATIENT_FIELDS = [
  ["given_name", "First name", { required: true, maxlength: 80 }],
  ["family_name", "Last name", { required: true, maxlength: 80 }],
  ["birth_date", "Date of birth", { type: "date", required: true }],
  ["phone", "Phone", { type: "tel", maxlength: 32, placeholder: "+1 212 555 0100" }],
  ["email", "E-mail", { type: "email", maxlength: 254 }],
];
const state = { patient: null }; // the patient whose page is open

export async function open() {
  const names = await directory();
  const clinic = names.place(); // the first location: its locale writes dates that belong to no session
  const chosen = new URLSearchParams(location.search).get("id");
  setUpSearch(clinic);
  setUpRegistration(names, clinic);
  setUpEditing(clinic);
  window.addEventListener("popstate", () => location.reload());
  if (chosen) await showPatient(chosen, names, clinic);
}

function filled(values) {
  // Only the fields typed in: an empty one is "any", not "empty".
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, value.trim()])
    .filter(([, value]) => value));
}

function setUpSearch(clinic) {
  onSubmit("patient-search", async (values) => {
    const criteria = filled(values);
    const box = document.getElementById("found");
    if (!Object.keys(criteria).length) {
      throw new Error("Type part of a name, phone number or e-mail address, or a date of birth, then Find.");
    }
    const page = await api(`patients?${new URLSearchParams({ ...criteria, limit: 50 })}`);
    if (!page.items.length) {
      box.replaceChildren(emptyRow("No patient matches. Check the spelling or the number, or register the patient "
        + "below."));
      return;
    }
    const more = page.total > page.items.length
      ? [element("p", `Showing ${page.items.length} of ${page.total}: add a detail to narrow the search.`,
        { class: "muted" })] : [];
    box.replaceChildren(patientTable(page.items, clinic), ...more);
  });
}

function patientTable(patients, clinic) {
  return table(["Name", "Date of birth", "Phone", "E-mail"], patients.map((patient) => [
    element("a", fullName(patient) + (patient.erased_at ? " (erased)" : ""),
      { href: `/app/patients?id=${patient.id}` }),
    birthDay(patient.birth_date, clinic), patient.phone || "—", patient.email || "—"]),
  { class: "records", id: "patients-found" });
}

function patientFields(form) {
  form.prepend(...PATIENT_FIELDS.map(([name, text, attributes]) => {
    const label = element("label", `${text} `);
    label.append(element("input", undefined, { name, autocomplete: "off", ...attributes }));
    return label;
  }));
}

function setUpRegistration(names, clinic) {
  let namesakeSeen = null; // the name and birth date the desk was warned about: a second click registers anyway
  const warning = document.getElementById("register-duplicate");
  patientFields(document.getElementById("register-form"));
  onSubmit("register-form", async (values, form) => {
    const body = filled(values);
    const person = [body.given_name, body.family_name, body.birth_date].join("|").toLowerCase();
    if (namesakeSeen !== person) {
      const same = await api(`patients?${new URLSearchParams({ name: `${body.given_name} ${body.family_name}`,
        birth_date: body.birth_date, limit: 10 })}`);
      const twins = same.items.filter((p) => fullName(p).toLowerCase() === `${body.given_name} ${body.family_name}`
        .toLowerCase());
      if (twins.length) {
        namesakeSeen = person;
        warning.replaceChildren(`${fullName(twins[0])}, born ${birthDay(body.birth_date, clinic)}, is already `
          + "registered: ", ...twins.map((twin) => element("a", `open patient #${twin.id}`,
          { href: `/app/patients?id=${twin.id}` })), ". Press Register patient again only if this is someone else.");
        warning.hidden = false;
        return;
      }
    }
    const patient = await api("patients", { method: "POST", body });
    form.reset();
    warning.hidden = true;
    namesakeSeen = null;
    history.pushState(null, "", `/app/patients?id=${patient.id}`);
    await showPatient(patient.id, names, clinic);
    notice(`Registered ${fullName(patient)}. Book a first session from here.`, "ok");
  });
}

function setUpEditing(clinic) {
  const form = document.getElementById("edit-form");
  patientFields(form);
  document.getElementById("edit-details").addEventListener("click", () => {
    for (const [name] of PATIENT_FIELDS) form.elements[name].value = state.patient[name] || "";
    reveal(form);
  });
  document.getElementById("edit-back").addEventListener("click", () => { form.hidden = true; });
  onSubmit(form, async (values) => {
    // A field left empty removes what was there (a phone number the patient no longer has).
    const body = Object.fromEntries(Object.entries(values).map(([name, value]) => [name, value.trim() || null]));
    const saved = await api(`patients/${state.patient.id}`, { method: "PATCH", body });
    form.hidden = true;
    showDetails(saved, clinic);
    notice(`Saved the details of ${fullName(saved)}.`, "ok");
  });
}

async function showPatient(id, names, clinic) {
  const patient = await api(`patients/${encodeURIComponent(id)}`);
  document.getElementById("directory").hidden = true;
  showDetails(patient, clinic);
  const now = new Date().toISOString(); // an instant: which zone the browser is in does not matter
  const [upcoming, past, plans, waits, requests] = await Promise.all([
    upcomingSessions(patient.id, now), pastSessions(patient.id, now), every(`plans?patient_id=${patient.id}`),
    every(`waitlist?patient_id=${patient.id}`), api("visit-requests")]);
  showSessions("upcoming", upcoming, names, { empty: "No session to come.",
    link: { text: "Book one on the Book page.", href: bookLink(patient) } });
  showSessions("past", past, names, { empty: "No past session yet.", past: true });
  showPlans(plans, names, patient);
  showWaits(waits, names, patient);
  showRequests(requests.filter((r) => r.patient.id === patient.id
    || r.possible_matches.some((match) => match.id === patient.id)), names, patient);
  await showMessages(patient, names);
  reveal(document.getElementById("patient"));
}

const bookLink = (patient) => `/app/desk?patient_id=${patient.id}`;

function showDetails(patient, clinic) {
  state.patient = patient;
  document.getElementById("title").textContent = fullName(patient);
  document.title = `${fullName(patient)} · Clinic scheduling`;
  const facts = [["Date of birth", birthDay(patient.birth_date, clinic)],
    ["Phone", patient.phone ? element("a", patient.phone, { href: `tel:${patient.phone.replace(/[^0-9+]/g, "")}` })
      : "none given"],
    ["E-mail", patient.email ? element("a", patient.email, { href: `mailto:${patient.email}` }) : "none given"],
    ...(patient.erased_at ? [["Personal data", "erased"]] : [])];
  const list = document.getElementById("details");
  list.replaceChildren(...facts.flatMap(([term, value]) => [element("dt", term), (() => {
    const detail = element("dd");
    detail.append(value);
    return detail;
  })()]));
  document.getElementById("book-link").href = bookLink(patient);
  document.getElementById("waitlist-link").href = `/app/waitlist?patient_id=${patient.id}`;
}

async function upcomingSessions(patientId, now) {
  const query = new URLSearchParams({ patient_id: patientId, start: now });
  for (const status of ["pending", "booked", "arrived"]) query.append("status", status);
  return every(`appointments?${query}`);
}

async function pastSessions(patientId, now) {
  // The latest ones: the API lists in start order, so the last page is asked for.
  const query = new URLSearchParams({ patient_id: patientId, end: now });
  const { total } = await api(`appointments?${query}&limit=1`);
  const page = await api(`appointments?${query}&limit=${RECENT}&offset=${Math.max(0, total - RECENT)}`);
  return page.items.filter((session) => Date.parse(session.end) <= Date.parse(now)).reverse();
}

function stateOf(session, past) {
  if (session.status === "cancelled") {
    return session.cancel_reason ? `cancelled: ${session.cancel_reason}` : "cancelled";
  }
  if (past && session.status === "booked") return "booked, attendance not recorded";
  return STATES[session.status];
}

function showSessions(id, sessions, names, { empty, link, past }) {
  const box = document.getElementById(id);
  if (!sessions.length) {
    box.replaceChildren(emptyRow(empty, link));
    return;
  }
  const places = sessions.map((session) => names.place(session.location_id));
  box.replaceChildren(table([timesHeading("When", places), "Service", "Clinician", "Room", "Location", "State"],
    sessions.map((session, n) => [
      zoned(span(session.start, session.end, places[n]), session.start, places[n], places),
      names.service(session.service_id), names.clinician(session.clinician_id), names.room(session.room_id),
      places[n].name, stateOf(session, past)]),
    { class: "records", id: `${id}-sessions`, "aria-label": past ? "Past sessions" : "Upcoming sessions" }));
}

function lineProgress(plan, line, names) {
  // "Shockwave therapy: 1 of 3 attended · 2 booked": what the line asked for against what happened.
  const sessions = plan.sessions.filter((s) => s.service_id === line.service_id);
  const count = (states) => sessions.filter((s) => s.appointment && states.includes(s.appointment.status)).length;
  const attended = count(["fulfilled"]);
  const parts = [[count(["booked", "arrived"]), "booked"], [count(["pending"]), "held"],
    [count(["cancelled", "noshow"]), "cancelled or missed"],
    [sessions.filter((s) => !s.appointment).length, "not placed"]]
    .filter(([n]) => n).map(([n, what]) => `${n} ${what}`);
  const item = element("li");
  const bar = element("progress", undefined, { max: line.count, value: attended,
    "aria-label": `${names.service(line.service_id)}: ${attended} of ${line.count} attended` });
  item.append(bar, ` ${names.service(line.service_id)}: ${attended} of ${line.count} attended`
    + (parts.length ? ` · ${parts.join(" · ")}` : ""));
  return item;
}

function showPlans(plans, names, patient) {
  const box = document.getElementById("plans");
  if (!plans.length) {
    box.replaceChildren(emptyRow("No treatment plan.", { text: "Propose one on the Book page.",
      href: bookLink(patient) }));
    return;
  }
  box.replaceChildren(...plans.map((plan) => {
    const part = element("section", undefined, { class: "plan", "data-plan": plan.id });
    const place = names.place(plan.location_id);
    part.append(element("h3", `Plan ${plan.id} at ${place.name}: ${PLAN_STATES[plan.status] || plan.status}`),
      element("p", `Between ${waitDays({ earliest_day: plan.earliest_start, latest_day: plan.latest_end }, place)}`,
        { class: "muted" }));
    const lines = element("ul", undefined, { class: "choices" });
    lines.append(...plan.lines.map((line) => lineProgress(plan, line, names)));
    part.append(lines);
    return part;
  }));
}

function showWaits(waits, names, patient) {
  const box = document.getElementById("waits");
  if (!waits.length) {
    box.replaceChildren(emptyRow("Not on the waitlist.", { text: "Add them from the Waitlist page.",
      href: `/app/waitlist?patient_id=${patient.id}` }));
    return;
  }
  const place = names.place();
  box.replaceChildren(table(["Service", "Days", `Daily window (${wallZoneLabel(names)})`, "Priority", "State"],
    waits.map((request) => [names.service(request.service_id), waitDays(request, place), waitHours(request, place),
      PRIORITIES[request.priority], offerWords(request, names)]),
    { class: "records", id: "waits-list" }));
}

function showRequests(requests, names, patient) {
  const box = document.getElementById("patient-requests");
  if (!requests.length) {
    box.replaceChildren(emptyRow("No public request of this patient is waiting for an answer."));
    return;
  }
  const places = requests.map((request) => names.place(request.location_id));
  box.replaceChildren(table(["Asked for", timesHeading("When", places), "Reason", "Who", ""],
    requests.map((request, n) => [REQUEST_KINDS[request.kind] || request.kind,
      zoned(span(request.start, request.end, places[n]), request.start, places[n], places), request.reason || "—",
      request.patient.id === patient.id ? "this patient"
        : `possibly this patient (asked as ${fullName(request.patient)})`,
      element("a", "Answer on the Requests page", { href: "/app/requests" })]),
    { class: "records", id: "requests-list" }));
}

async function showMessages(patient, names) {
  const box = messagesCard(document.getElementById("patient"), { id: "messages", title: "Messages" });
  const messages = await messagesAt(`patients/${patient.id}/messages`);
  const choices = channelChoices(patient, (changed) => { state.patient = changed; });
  box.replaceChildren(choices, messages.length
    ? messageTable(messages, names.place, { done: () => showMessages(state.patient, names),
      attributes: { id: "messages-list", "aria-label": "Messages to the patient" } })
    : emptyRow("Nothing was written to this patient yet."));
}
