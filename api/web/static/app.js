// The web app: small page scripts over the JSON API (/api/v1), signed in with a bearer token kept for the tab.
"use strict";

const API = "/api/v1";
const TOKEN = "clinic-token";

// --- plumbing ------------------------------------------------------------------

function words(payload, status) {
  // The API's errors, in words: a sentence, or "field: message" per invalid field.
  const detail = payload && payload.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).filter((p) => p !== "body" && p !== "query").join(" ")}: ${d.msg}`)
      .join("; ");
  }
  return `the server could not do that (HTTP ${status})`;
}

async function api(path, { method = "GET", body, form } = {}) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN);
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (form) payload = new URLSearchParams(form);
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path.startsWith("/") ? path : `${API}/${path}`, { method, headers, body: payload });
  } catch (error) {
    throw new Error("the clinic server cannot be reached; check the connection and try again");
  }
  if (response.status === 401 && !form) {
    sessionStorage.removeItem(TOKEN);
    location.assign("/app/login");
    throw new Error("please sign in again");
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new Error(words(data, response.status));
  return data;
}

function notice(message, kind = "error") {
  const box = document.getElementById("notice");
  box.textContent = message;
  box.className = kind;
  box.hidden = !message;
}

async function busy(button, work) {
  // A loading indicator on the button that started a slow action; errors end up in the notice, in words.
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = "Working…";
  try {
    notice("");
    return await work();
  } catch (error) {
    notice(error.message);
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = label;
  }
}

function onSubmit(formId, work) {
  const form = document.getElementById(formId);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form.querySelector("button[type=submit]"), () => work(Object.fromEntries(new FormData(form))));
  });
  return form;
}

function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "style") node.style.cssText = value; // CSSOM, which the Content-Security-Policy allows
    else node.setAttribute(name, value);
  }
  return node;
}

function action(label, work) {
  const button = element("button", label, { type: "button" });
  button.addEventListener("click", () => busy(button, work));
  return button;
}

// Times as the clinic's wall clock: the API sends local times with their offset, so the text is the local time.
const wallDate = (iso) => iso.slice(0, 10);
const wallTime = (iso) => iso.slice(11, 16);
const minutesOfDay = (iso) => Number(iso.slice(11, 13)) * 60 + Number(iso.slice(14, 16));

function describeWhen(iso) {
  const day = new Date(`${wallDate(iso)}T12:00:00`);
  return `${day.toLocaleDateString("en-GB", { weekday: "short", day: "numeric", month: "short" })} ${wallTime(iso)}`;
}

function today() {
  const now = new Date();
  return new Date(now.getTime() - now.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
}

function addDays(day, days) {
  const moment = new Date(`${day}T12:00:00Z`);
  moment.setUTCDate(moment.getUTCDate() + days);
  return moment.toISOString().slice(0, 10);
}

const dayStart = (day) => new Date(`${day}T00:00:00`).toISOString();

async function fill(select, path, label = (item) => item.name, { optional } = {}) {
  const page = await api(path);
  select.replaceChildren(...(optional ? [element("option", optional, { value: "" })] : []),
    ...page.items.map((item) => element("option", label(item), { value: item.id })));
  return page.items;
}

// --- pages ---------------------------------------------------------------------

async function loginPage() {
  onSubmit("login-form", async (values) => {
    const token = await api(`${API}/auth/token`, { method: "POST", form: values });
    sessionStorage.setItem(TOKEN, token.access_token);
    const me = await api("auth/me");
    location.assign(me.role === "clinician" ? "/app/roster" : "/app/desk");
  });
}

async function deskPage() {
  const state = { patient: null, rescheduling: null };
  const services = await fill(document.querySelector("#slot-search [name=service_id]"), "services?limit=200");
  await fill(document.querySelector("#slot-search [name=location_id]"), "locations?limit=200", undefined,
    { optional: "Any location" });
  await fill(document.querySelector("#plan-form [name=template_id]"), "plan-templates?limit=200");
  const serviceName = Object.fromEntries(services.map((s) => [s.id, s.name]));
  document.querySelector("#slot-search [name=day]").value = addDays(today(), 1);
  document.querySelector("#plan-form [name=earliest_start]").value = addDays(today(), 1);
  openDeepLink();
  await showRequests();

  async function showRequests() {
    const requests = await api("visit-requests");
    const list = document.getElementById("requests");
    if (!requests.length) {
      list.replaceChildren(element("li", "No request is waiting.", { class: "muted" }));
      return;
    }
    list.replaceChildren(...requests.map((request) => {
      const who = request.patient;
      const contact = [who.phone, who.email].filter(Boolean).join(", ");
      const what = request.kind === "move" ? `move of appointment ${request.moves_appointment_id} to`
        : `${request.kind.replace("_", "-")} ${serviceName[request.service_id]}`;
      const item = element("li", `${what} ${describeWhen(request.start)} · ${who.given_name} ${who.family_name}, `
        + `born ${who.birth_date} · ${contact}${request.reason ? ` · "${request.reason}"` : ""} `,
      { class: "request", "data-id": request.id });
      const match = element("select", undefined, { "aria-label": "Patient record" });
      match.append(element("option", request.new_patient ? "New patient record" : "Existing patient", { value: "" }),
        ...request.possible_matches.map((p) => element("option", `Same as ${p.given_name} ${p.family_name}, `
          + `born ${p.birth_date} (#${p.id})`, { value: p.id })));
      if (request.possible_matches.length) item.append(match);
      item.append(action("Confirm", async () => {
        const body = match.value ? { patient_id: Number(match.value) } : {};
        await api(`visit-requests/${request.id}/confirm`, { method: "POST", body });
        notice(`Request confirmed: ${who.given_name} ${who.family_name} is booked.`, "ok");
        await showRequests();
      }));
      item.append(action("Decline", async () => {
        const reason = prompt("Why? (shown to the visitor)", "no suitable clinician that day");
        if (!reason) return;
        await api(`visit-requests/${request.id}/decline`, { method: "POST", body: { reason } });
        notice("Request declined; the time is free again.", "ok");
        await showRequests();
      }));
      return item;
    }));
  }

  function openDeepLink() {
    // A booking deep link (from the FHIR bulk publication) names a service, location and start: search there.
    const link = new URLSearchParams(location.search);
    if (!link.get("service_id") || !link.get("start")) return;
    const form = document.getElementById("slot-search");
    form.elements.service_id.value = link.get("service_id");
    form.elements.location_id.value = link.get("location_id") || "";
    form.elements.day.value = wallDate(link.get("start"));
    notice(`Booking ${serviceName[link.get("service_id")] || "a service"} on ${describeWhen(link.get("start"))}: `
      + "choose the patient, then Find slots.", "info");
  }

  function choosePatient(patient) {
    state.patient = patient;
    document.getElementById("patient-chosen").textContent =
      `Patient: ${patient.given_name} ${patient.family_name} (born ${patient.birth_date})`;
    return showAppointments();
  }

  onSubmit("patient-search", async ({ name }) => {
    const page = await api(`patients?${new URLSearchParams({ name, limit: 20 })}`);
    const list = document.getElementById("patients");
    list.replaceChildren(...page.items.map((patient) => {
      const item = element("li", `${patient.given_name} ${patient.family_name}, born ${patient.birth_date} `);
      item.append(action("Choose", () => choosePatient(patient)));
      return item;
    }));
    if (!page.items.length) notice("No patient has that name; check the spelling or register the patient first.");
  });

  function needPatient() {
    if (!state.patient) throw new Error("Choose a patient first.");
    return state.patient;
  }

  onSubmit("slot-search", async ({ service_id, location_id, day }) => {
    const patient = needPatient();
    const query = { service_id, patient_id: patient.id, start: dayStart(day), end: dayStart(addDays(day, 7)),
      limit: 12 };
    if (location_id) query.location_id = location_id;
    const found = await api(`availability?${new URLSearchParams(query)}`);
    const list = document.getElementById("slots");
    if (!found.slots.length) {
      list.replaceChildren();
      notice(`No free slot that week: ${found.reasons.map((r) => r.message).join("; ")}`, "info");
      return;
    }
    list.replaceChildren(...found.slots.map((slot) => slotRow(slot, Number(service_id))));
  });

  function slotRow(slot, serviceId) {
    const who = [slot.clinician.name, slot.room && slot.room.name, ...slot.devices.map((d) => d.name)]
      .filter(Boolean).join(" · ");
    const item = element("li", `${describeWhen(slot.start)}–${wallTime(slot.end)} · ${who} `, { class: "slot" });
    const choice = { service_id: serviceId, patient_id: state.patient.id, start: slot.start,
      clinician_id: slot.clinician.id, room_id: slot.room ? slot.room.id : null,
      device_ids: slot.devices.map((d) => d.id) };
    if (state.rescheduling) {
      item.append(action("Move here", async () => {
        const { start, clinician_id, room_id, device_ids } = choice;
        await api(`appointments/${state.rescheduling.id}/reschedule`, { method: "POST",
          body: { start, clinician_id, room_id, device_ids } });
        notice(`Moved to ${describeWhen(slot.start)}.`, "ok");
        state.rescheduling = null;
        document.getElementById("rescheduling").hidden = true;
        document.getElementById("slots").replaceChildren();
        await showAppointments();
      }));
      return item;
    }
    item.append(action("Hold", async () => {
      const hold = await api("holds", { method: "POST", body: choice });
      notice(`Held until ${wallTime(hold.hold_expires_at.replace("Z", ""))} UTC; book it from the list below.`, "ok");
      await showAppointments();
    }));
    item.append(action("Book", async () => {
      await api("appointments", { method: "POST", body: choice });
      notice(`Booked ${serviceName[serviceId]} on ${describeWhen(slot.start)}.`, "ok");
      document.getElementById("slots").replaceChildren();
      await showAppointments();
    }));
    return item;
  }

  async function showAppointments() {
    const patient = needPatient();
    const query = new URLSearchParams({ patient_id: patient.id, start: new Date().toISOString(), limit: 50 });
    query.append("status", "booked");
    query.append("status", "pending");
    const page = await api(`appointments?${query}`);
    const list = document.getElementById("appointments");
    if (!page.items.length) list.replaceChildren(element("li", "Nothing booked or held.", { class: "muted" }));
    else list.replaceChildren(...page.items.map(appointmentRow));
  }

  function appointmentRow(appointment) {
    const held = appointment.status === "pending";
    const item = element("li", `${describeWhen(appointment.start)} · ${serviceName[appointment.service_id]} · `
      + `${held ? "held" : "booked"} `, { class: "appointment", "data-id": appointment.id });
    if (held) {
      item.append(action("Book", async () => {
        await api("appointments", { method: "POST", body: { hold_id: appointment.id } });
        notice("Booked.", "ok");
        await showAppointments();
      }));
      item.append(action("Release", async () => {
        await api(`holds/${appointment.id}`, { method: "DELETE" });
        await showAppointments();
      }));
      return item;
    }
    item.append(action("Cancel", async () => {
      const reason = prompt("Why is it cancelled? (kept in the audit log)", "patient asked");
      if (!reason) return;
      await api(`appointments/${appointment.id}/cancel`, { method: "POST", body: { reason } });
      notice(`Cancelled the ${serviceName[appointment.service_id]} of ${describeWhen(appointment.start)}.`, "ok");
      await showAppointments();
    }));
    item.append(action("Reschedule", async () => {
      state.rescheduling = appointment;
      const note = document.getElementById("rescheduling");
      note.textContent = `Moving ${describeWhen(appointment.start)}: find slots and choose "Move here".`;
      note.hidden = false;
      document.querySelector("#slot-search [name=service_id]").value = appointment.service_id;
    }));
    return item;
  }

  onSubmit("plan-form", async ({ template_id, earliest_start, weeks }) => {
    const patient = needPatient();
    const locationId = document.querySelector("#slot-search [name=location_id]").value
      || document.querySelector("#slot-search [name=location_id] option[value]:not([value=''])").value;
    const plan = await api("plans", { method: "POST", body: { patient_id: patient.id, location_id: Number(locationId),
      template_id: Number(template_id), earliest_start, latest_end: addDays(earliest_start, 7 * Number(weeks)) } });
    const proposal = await api(`plans/${plan.id}/proposal`, { method: "POST" });
    showProposal(proposal);
  });

  function showProposal(proposal) {
    const box = document.getElementById("proposal");
    const rows = proposal.plan.sessions.map((s) => element("li", s.appointment
      ? `${serviceName[s.service_id]} ${s.sequence}: ${describeWhen(s.appointment.start)}`
      : `${serviceName[s.service_id]} ${s.sequence}: not placed (${s.unplaced_reason})`));
    const summary = element("p", `${proposal.placed} sessions held, ${proposal.unplaced} not placed.`);
    const confirm = action("Confirm plan", async () => {
      await api(`plans/${proposal.plan.id}/confirm`, { method: "POST" });
      notice("The plan is booked.", "ok");
      box.replaceChildren(element("p", "Plan confirmed: every held session is booked."));
      await showAppointments();
    });
    box.replaceChildren(summary, element("ul", undefined, { class: "choices" }), confirm);
    box.querySelector("ul").append(...rows);
  }
}

async function boardPage() {
  const form = document.getElementById("board-form");
  form.elements.day.value = new URLSearchParams(location.search).get("day") || today();
  await fill(form.elements.location_id, "locations?limit=200");
  const show = async ({ day, location_id }) => {
    const rows = await api(`day-board/${day}?location_id=${location_id}`);
    const opens = 7 * 60, closes = 20 * 60, span = closes - opens;
    const board = document.getElementById("board");
    const hours = element("div", undefined, { class: "board-row board-hours" });
    hours.append(element("span", "", { class: "board-name" }));
    const scale = element("div", undefined, { class: "board-lane" });
    for (let hour = 7; hour < 20; hour += 1) {
      scale.append(element("span", `${hour}:00`, { class: "board-hour", style: `left:${((hour * 60 - opens) / span) * 100}%` }));
    }
    hours.append(scale);
    board.replaceChildren(hours, ...rows.map((row) => {
      const line = element("div", undefined, { class: `board-row kind-${row.kind}` });
      line.append(element("span", row.resource.name, { class: "board-name" }));
      const lane = element("div", undefined, { class: "board-lane" });
      for (const block of row.blocks) {
        const from = Math.max(minutesOfDay(block.starts_at), opens);
        const to = Math.min(wallDate(block.ends_at) > day ? 24 * 60 : minutesOfDay(block.ends_at), closes);
        lane.append(element("span", `${wallTime(block.starts_at)} ${block.label}`, {
          class: `block status-${block.status}`, "data-appointment": block.appointment_id,
          title: `${wallTime(block.starts_at)}–${wallTime(block.ends_at)} ${block.label}`,
          style: `left:${((from - opens) / span) * 100}%;width:${(Math.max(to - from, 5) / span) * 100}%`,
        }));
      }
      line.append(lane);
      return line;
    }));
  };
  onSubmit("board-form", show);
  await busy(form.querySelector("button[type=submit]"), () => show(Object.fromEntries(new FormData(form))));
}

async function rosterPage(me) {
  const form = document.getElementById("roster-form");
  form.elements.day.value = new URLSearchParams(location.search).get("day") || today();
  if (me.role === "clinician") {
    document.getElementById("clinician-choice").remove();
  } else {
    await fill(form.elements.clinician_id, "clinicians?limit=200");
  }
  document.getElementById("print").addEventListener("click", () => window.print());
  const show = async ({ clinician_id, day }) => {
    const id = me.role === "clinician" ? me.clinician_id : clinician_id;
    const entries = await api(`clinicians/${id}/roster?${new URLSearchParams({ start: dayStart(day),
      end: dayStart(addDays(day, 1)) })}`);
    const name = me.role === "clinician" ? "My" : `${form.elements.clinician_id.selectedOptions[0].textContent}'s`;
    document.getElementById("roster-title").textContent = `${name} roster, ${day}`;
    const body = document.querySelector("#roster tbody");
    if (!entries.length) {
      body.replaceChildren(element("tr")).firstChild.append(element("td", "No sessions that day.", { colspan: 7 }));
      return;
    }
    body.replaceChildren(...entries.map((entry) => {
      const row = element("tr");
      for (const text of [`${wallTime(entry.starts_at)}–${wallTime(entry.ends_at)}`, entry.patient.name,
        entry.service.name, entry.room ? entry.room.name : "", entry.devices.map((d) => d.name).join(", "),
        entry.plan_progress || "", entry.status]) row.append(element("td", text));
      return row;
    }));
  };
  onSubmit("roster-form", show);
  await busy(form.querySelector("button[type=submit]"), () => show(Object.fromEntries(new FormData(form))));
}

// The nightly runs: each location's history, and for one run what it placed, moved, reassigned and left waiting.
// Times are the location's wall clock (the API sends them with the location's offset), whatever the browser's zone.
const count = (number) => Math.round(number).toLocaleString("en-US");
const sessions = (number) => `${count(number)} session${number === 1 ? "" : "s"}`;
const percent = (gap) => (gap === null ? "not proven" : `${(gap * 100).toFixed(1)} %`);
const LEVELS = { placed: "Sessions placed (priority points)", sooner: "Days waited, summed",
  quality: "Continuity, balance, idle gaps, moves" };

function howGood(run) {
  // "placed 1,040 of 1,200; at most 1,061 can be placed": the answer against the best bound of the placed level.
  if (run.objective === null) return run.status === "succeeded" ? "nothing waited" : "";
  const most = run.bound === null ? "no bound proved" : `at most ${count(Math.floor(run.bound + 1e-6))} can be placed`;
  return `placed ${count(run.objective)} of ${count(run.points_waiting)} priority points; ${most}`;
}

function table(headings, rows) {
  const grid = element("table", undefined, { class: "records" });
  const head = element("tr");
  head.append(...headings.map((heading) => element("th", heading)));
  grid.append(element("thead"), element("tbody"));
  grid.tHead.append(head);
  for (const cells of rows) {
    const row = element("tr");
    row.append(...cells.map((cell) => element("td", String(cell))));
    grid.tBodies[0].append(row);
  }
  return grid;
}

function section(title, headings, rows, empty) {
  const part = element("section", undefined, { "data-part": title.toLowerCase().replace(/ /g, "-") });
  part.append(element("h3", `${title} (${rows.length})`), rows.length ? table(headings, rows) : element("p", empty,
    { class: "muted" }));
  return part;
}

function showRun(run) {
  const box = document.getElementById("run-report");
  const names = run.names;
  const name = (kind, id) => (id === null || id === undefined ? "none" : names[kind][id] || `#${id}`);
  const session = (change) => names.appointments[change.appointment_id] || {};
  const resources = (side) => [name("clinicians", side.clinician_id), name("rooms", side.room_id),
    side.device_ids.map((id) => name("devices", id)).join(", ") || "no device"].join(" · ");
  const of = (kind) => run.changes.filter((change) => change.action === kind);
  const zone = run.time_zone;
  const facts = [["Night", run.run_date], ["Trigger", run.trigger], ["Status", run.status],
    ["Started", `${describeWhen(run.started_at)} (${zone})`],
    ["Finished", run.finished_at ? `${describeWhen(run.finished_at)} (${zone})` : "still running"],
    ["How good", howGood(run) || "—"],
    ["Gap to CP-SAT's bound", percent(run.solver_gap)], ["Gap to the relaxation's bound", percent(run.relaxation_gap)],
    ["First solution after", run.first_solution_seconds === null ? "—" : `${run.first_solution_seconds.toFixed(1)} s`]];
  const list = element("dl");
  for (const [term, value] of facts) list.append(element("dt", term), element("dd", String(value)));
  const stages = run.stages.map((stage) => [LEVELS[stage.name] || stage.name, count(stage.value),
    run.greedy[stage.name] === undefined ? "—" : count(run.greedy[stage.name]),
    stage.bound === null ? "—" : count(stage.bound), stage.relaxation === null ? "—" : count(stage.relaxation),
    percent(stage.gap), stage.status]);
  const placed = [...of("waitlist_hold"), ...of("plan_session")].map((change) => [
    name("patients", change.patient_id), name("services", change.service_id), describeWhen(change.start),
    change.status === "pending" ? "held for the desk to confirm" : change.status,
    change.action === "waitlist_hold" ? `waitlist request ${change.request_id}` : `plan ${change.plan_id}, session ${change.sequence}`]);
  const moved = of("move").map((change) => [name("patients", session(change).patient_id),
    name("services", session(change).service_id), describeWhen(change.before.start), describeWhen(change.after.start),
    resources(change.after)]);
  const reassigned = of("reassign").map((change) => [name("patients", session(change).patient_id),
    name("services", session(change).service_id), resources(change.before), resources(change.after)]);
  const waiting = run.waiting.map((entry) => [name("patients", entry.patient_id), name("services", entry.service_id),
    entry.priority, entry.reason]);
  const skipped = [...of("reassignments_skipped"), ...of("not_placed")].map((change) => change.reason);
  box.replaceChildren(element("h2", `Run of ${run.run_date} (times in ${zone})`), list,
    ...(run.error ? [element("p", `Error: ${run.error}`, { class: "error" })] : []),
    ...skipped.map((reason) => element("p", `Not done: ${reason}`, { class: "muted" })),
    section("Levels", ["Level", "This run", "First-fit", "CP-SAT's bound", "Relaxation's bound", "Gap", "Status"],
      stages, "No levels recorded."),
    section("Placed", ["Patient", "Service", `When (${zone})`, "Status", "For"], placed, "Nothing was placed."),
    section("Moved", ["Patient", "Service", `Before (${zone})`, `After (${zone})`, "Served by"], moved,
      "No booked time moved."),
    section("Reassigned", ["Patient", "Service", "Before", "After"], reassigned, "Nobody was reassigned."),
    section("Left waiting", ["Patient", "Service", "Priority", "Why"], waiting, "Nothing is left waiting."));
  box.hidden = false;
}

async function runsPage() {
  const form = document.getElementById("runs-form");
  await fill(form.elements.location_id, "locations?limit=200");
  const chosen = new URLSearchParams(location.search).get("location_id");
  if (chosen) form.elements.location_id.value = chosen;
  const body = document.querySelector("#runs tbody");
  const open = async (row, id) => {
    for (const other of body.rows) other.removeAttribute("aria-selected");
    row.setAttribute("aria-selected", "true");
    showRun(await api(`optimization-runs/${id}`));
  };
  const show = async ({ location_id }) => {
    const page = await api(`optimization-runs?location_id=${location_id}&limit=30`);
    document.getElementById("run-report").hidden = true;
    if (!page.items.length) {
      body.replaceChildren(element("tr")).firstChild.append(element("td", "No optimization has run here yet.",
        { colspan: 7 }));
      return;
    }
    body.replaceChildren(...page.items.map((run) => {
      const row = element("tr", undefined, { "data-id": run.id });
      const greedy = run.greedy.placed === undefined ? "—"
        : `${sessions(run.greedy.placed_sessions)} (${count(run.greedy.placed)} points)`;
      for (const text of [run.run_date, run.trigger, run.status,
        `${sessions(run.sessions_placed)} (${count(run.objective || 0)} points)`, greedy,
        howGood(run) || run.error]) row.append(element("td", text));
      const cell = element("td");
      cell.append(action("Show", () => open(row, run.id)));
      row.append(cell);
      return row;
    }));
    await open(body.rows[0], page.items[0].id);
  };
  onSubmit("runs-form", show);
  await busy(form.querySelector("button[type=submit]"), () => show(Object.fromEntries(new FormData(form))));
}

// --- public pages (no sign-in) -----------------------------------------------------

const KIND_LABELS = { telehealth: "Request telehealth", in_office: "Request in-office visit" };

async function requestPage() {
  const services = await api("public/services");
  const link = new URLSearchParams(location.search);
  let chosen = null;
  const kinds = document.getElementById("kinds");
  kinds.replaceChildren(...services.map((service) => action(`${KIND_LABELS[service.kind]}: ${service.name} `
    + `(${service.minutes} min)`, () => showTimes(service))));

  async function showTimes(service, wanted) {
    const slots = await api(`public/slots?kind=${service.kind}`);
    document.getElementById("times-card").hidden = false;
    const list = document.getElementById("times");
    if (!slots.length) {
      list.replaceChildren(element("li", "No free time in the coming two weeks; please call the clinic."));
      return;
    }
    list.replaceChildren(...slots.map((slot) => {
      const item = element("li", `${describeWhen(slot.start)}–${wallTime(slot.end)} · ${slot.location_name} `,
        { class: "slot" });
      item.append(action("Choose", () => choose(service, slot)));
      return item;
    }));
    const linked = wanted && slots.find((slot) => slot.start === wanted.start
      && String(slot.location_id) === wanted.location_id);
    if (linked) choose(service, linked);
    else if (wanted) notice("That time has just been taken; please choose another.", "info");
  }

  function choose(service, slot) {
    chosen = { service, slot };
    document.getElementById("details-card").hidden = false;
    document.getElementById("chosen").textContent =
      `${service.name} on ${describeWhen(slot.start)} at ${slot.location_name}`;
  }

  onSubmit("request-form", async (values) => {
    if (!chosen) throw new Error("Choose a time first.");
    const body = { kind: chosen.service.kind, location_id: chosen.slot.location_id, start: chosen.slot.start,
      given_name: values.given_name, family_name: values.family_name, birth_date: values.birth_date,
      phone: values.phone || null, email: values.email || null, reason: values.reason };
    const created = await api("public/requests", { method: "POST", body });
    location.assign(new URL(created.status_url).pathname);
  });

  const wantedKind = services.find((s) => s.kind === link.get("kind"));
  if (wantedKind) await showTimes(wantedKind, link.get("start") && { start: link.get("start"),
    location_id: link.get("location_id") });
}

const STATUS_WORDS = {
  requested: "The clinic has your request and holds the time for you until",
  confirmed: "Confirmed: you are booked.",
  declined: "The clinic could not accept this request.",
  expired: "This request expired before the clinic answered; the time is free again. Please ask for another.",
};

async function requestStatusPage() {
  const token = location.pathname.split("/").pop();
  const box = document.getElementById("request-status");
  try {
    const request = await api(`public/requests/${token}`);
    let words = STATUS_WORDS[request.status];
    if (request.status === "requested") words += ` ${describeWhen(request.hold_expires_at)} (UTC).`;
    const facts = element("dl");
    facts.append(element("dt", "What"), element("dd", request.kind === "move" ? `Move of ${request.service}`
      : request.service), element("dt", "When"), element("dd", `${describeWhen(request.start)}–${wallTime(request.end)}`),
    element("dt", "Where"), element("dd", request.location));
    box.replaceChildren(element("p", words, { id: "status-words", "data-status": request.status }), facts,
      ...(request.decline_reason ? [element("p", `Reason: ${request.decline_reason}`)] : []));
  } catch (error) {
    box.replaceChildren(element("p", error.message, { class: "error" }));
  }
}

async function patientPage() {
  const token = location.pathname.split("/").pop();
  const list = document.getElementById("sessions");
  try {
    const sessions = await api(`public/patients/${token}/sessions`);
    if (!sessions.length) {
      list.replaceChildren(element("li", "No upcoming sessions."));
      return;
    }
    list.replaceChildren(...sessions.map((session) => {
      const item = element("li", `${describeWhen(session.start)} · ${session.service}`
        + `${session.plan_progress ? ` (${session.plan_progress})` : ""} · ${session.location} `,
      { "data-id": session.appointment_id });
      if (session.move_requested) item.append(element("span", "move requested", { class: "muted" }));
      else item.append(action("Ask to move", () => moveOptions(session)));
      return item;
    }));
  } catch (error) {
    list.replaceChildren(element("li", error.message, { class: "error" }));
  }

  async function moveOptions(session) {
    const slots = await api(`public/patients/${token}/sessions/${session.appointment_id}/slots`);
    document.getElementById("move-card").hidden = false;
    document.getElementById("move-title").textContent = `Move ${session.service} of ${describeWhen(session.start)}`;
    document.getElementById("move-times").replaceChildren(...slots.map((slot) => {
      const item = element("li", `${describeWhen(slot.start)} · ${slot.location_name} `, { class: "slot" });
      item.append(action("Ask for this time", async () => {
        const created = await api(`public/patients/${token}/moves`, { method: "POST",
          body: { appointment_id: session.appointment_id, location_id: slot.location_id, start: slot.start } });
        location.assign(new URL(created.status_url).pathname);
      }));
      return item;
    }));
  }
}

// --- start ---------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", async () => {
  const page = document.body.dataset.page;
  const ready = () => { document.body.dataset.ready = "true"; }; // the page's handlers are in place
  const open = { login: loginPage, request: requestPage, request_status: requestStatusPage, me: patientPage };
  if (open[page]) return open[page]().catch((error) => notice(error.message)).finally(ready);
  if (!sessionStorage.getItem(TOKEN)) return location.assign("/app/login");
  document.getElementById("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN);
    location.assign("/app/login");
  });
  try {
    const me = await api("auth/me");
    document.getElementById("who").textContent = `${me.username} (${me.role.replace("_", " ")})`;
    const pages = { desk: deskPage, board: boardPage, roster: () => rosterPage(me), runs: runsPage };
    if (pages[page]) await pages[page]();
  } catch (error) {
    notice(error.message);
  }
  ready();
});
