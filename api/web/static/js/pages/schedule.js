// The schedule screen: a location's clinicians, device units and rooms as rows, a day or a week across, in the
// location's zone whatever the browser's. Click a session for its panel (patient, plan progress, history, actions);
// drag it to move it (the API checks it like any move; a refusal says why and puts it back); click an empty time
// to book there (the availability search picks the room and units).
//
// The calendar component (EventCalendar, /vendor/event-calendar.js) runs in UTC and is given wall-clock strings
// without an offset, so what it shows and hands back is the location's wall clock (clinic-time.js converts).
import { action, api, ask, busy, element, fill, notice } from "../core.js";
import {
  addDays, dayLabel, fromWall, placeOf, span, timeOf, toWall, today, wallDay, wallOfCalendar, weekStart, when,
  zoneLabel,
} from "../clinic-time.js";
import { moveSession } from "../front-desk.js";
import { sessionMessages } from "../messages.js";

const CAUSE_CLASS = (cause) => `cause-${cause.replace(/ /g, "-")}`;
const STATUS_WORDS = { pending: "held", booked: "booked", arrived: "checked in", fulfilled: "done",
  noshow: "no-show" };

const clock = (minutes) => `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60)
  .padStart(2, "0")}`;

function openingSpan(place) {
  // From the earliest opening to the latest closing of the week, in whole hours; a clinic without hours: 6 to 21.
  const minutes = (text) => Number(text.slice(0, 2)) * 60 + Number(text.slice(3, 5));
  const hours = place.opening_hours || [];
  if (!hours.length) return [6 * 60, 21 * 60];
  const opens = Math.min(...hours.map((h) => minutes(h.starts)));
  const closes = Math.max(...hours.map((h) => (h.ends.startsWith("23:59") ? 24 * 60 : minutes(h.ends))));
  return [Math.floor(opens / 60) * 60, Math.min(24 * 60, Math.ceil(closes / 60) * 60)];
}

const GRID_ROLES = ["grid", "table", "treegrid", "rowgroup", "row", "rowheader", "columnheader", "gridcell", "cell"];

function keepRolesValid(container) {
  // The calendar component marks its timeline up as a grid whose side column of resource names sits outside any
  // row (axe: aria-required-parent/children, critical). Until it is fixed upstream its grid roles are removed, so
  // assistive technology reads plain text and the sessions, which are labelled buttons. Only what was just added
  // is looked at: a busy week is thousands of nodes.
  const selector = [...GRID_ROLES.map((role) => `[role=${role}]`), "[aria-colindex]", "[aria-rowindex]"].join(",");
  const clean = (node) => {
    node.removeAttribute("role");
    node.removeAttribute("aria-colindex");
    node.removeAttribute("aria-rowindex");
  };
  const strip = (root) => {
    if (root.nodeType !== Node.ELEMENT_NODE) return;
    if (root.matches(selector)) clean(root);
    for (const node of root.querySelectorAll(selector)) clean(node);
  };
  new MutationObserver((changes) => {
    for (const change of changes) change.addedNodes.forEach(strip);
  }).observe(container, { subtree: true, childList: true });
  strip(container);
}

export async function open() {
  const form = document.getElementById("schedule-form");
  const [locations, serviceList] = await Promise.all([fill(form.elements.location_id, "locations?limit=200"),
    api("services?limit=200")]);
  const services = serviceList.items.filter((s) => !s.archived_at);
  const serviceOf = Object.fromEntries(services.map((s) => [s.id, s]));
  const link = new URLSearchParams(location.search);
  if (link.get("location_id")) form.elements.location_id.value = link.get("location_id");
  const state = { place: null, view: null, data: null };
  const placeNow = () => placeOf(locations.find((l) => String(l.id) === form.elements.location_id.value));
  state.place = placeNow();
  form.elements.day.value = link.get("day") || today(state.place);
  if (link.get("view") === "week") form.elements.view.value = "week";

  let calendar = null; // made with the first answer, so the first drawing is the only one
  const fixed = {
    timeZone: "UTC",
    firstDay: 1, // weeks run Monday to Sunday, as the week the screen asks the API for
    headerToolbar: { start: "", center: "", end: "" },
    height: "auto",
    editable: true,
    eventDurationEditable: false,
    eventContent: eventContent,
    eventClick: (info) => { if (info.event.display !== "background") openSession(info.event.extendedProps.session); },
    dateClick: (info) => openBooking(info),
    eventDrop: (info) => move(info),
    eventDidMount: (info) => {
      const { session, cause, label } = info.event.extendedProps;
      info.el.setAttribute("title", session ? label : cause);
      if (session) {
        info.el.setAttribute("data-appointment", session.appointment_id);
        info.el.setAttribute("tabindex", "0");
        info.el.setAttribute("role", "button");
        info.el.setAttribute("aria-label", label);
        info.el.addEventListener("keydown", (event) => {
          if (event.key === "Enter" || event.key === " ") { event.preventDefault(); openSession(session); }
        });
      }
    },
  };

  function shortText(session) {
    // What the block shows; its accessible name starts with the same words (WCAG: label in name).
    const progress = session.plan_progress ? ` · ${session.plan_progress.replace(session.service.name, "").trim()}` : "";
    return [`${session.status === "pending" ? "Held · " : ""}${session.patient.name}`,
      ` ${timeOf(session.start, state.place)} ${session.service.name}${progress}`];
  }

  function describe(session) {
    return `${shortText(session).join("")}: ${span(session.start, session.end, state.place)}, `
      + `${STATUS_WORDS[session.status]}${session.patient_confirmed_at ? ", confirmed by patient" : ""}`;
  }

  function eventContent(info) {
    const { session, text } = info.event.extendedProps;
    if (!session) return "";
    const [who, what] = text;
    const box = element("div", undefined, { class: "session-text" });
    box.append(element("strong", who), element("span", what));
    return { domNodes: [box] };
  }

  async function load() {
    // One request per day or week shown: resources, sessions and shaded time in one answer.
    state.place = placeNow();
    const week = form.elements.view.value === "week";
    const first = week ? weekStart(form.elements.day.value) : form.elements.day.value;
    const data = await api(`schedule?${new URLSearchParams({ location_id: form.elements.location_id.value,
      day: first, days: week ? 7 : 1 })}`);
    state.data = data;
    const place = state.place;
    document.getElementById("schedule-title").textContent = week
      ? `Schedule, week of ${dayLabel(first, place)}` : `Schedule, ${dayLabel(first, place)}`;
    document.getElementById("schedule-zone").textContent = `${data.location.name}: times are ${zoneLabel(place)}.`;
    for (const id of ["previous", "next"]) {
      document.getElementById(id).setAttribute("aria-label", `${id === "previous" ? "Previous" : "Next"} `
        + `${week ? "week" : "day"}`);
    }
    const [opens, closes] = openingSpan(locations.find((l) => l.id === data.location.id));
    const slotMinutes = week ? 60 : 15;
    const slots = ((closes - opens) / slotMinutes) * (week ? 7 : 1);
    const room = document.getElementById("schedule").clientWidth - 170;
    const background = data.unavailable.map((u, n) => ({ id: `u${n}`, resourceIds: [u.resource_id],
      start: toWall(u.start, place), end: toWall(u.end, place), display: "background",
      classNames: ["unavailable", CAUSE_CLASS(u.cause)], extendedProps: { cause: u.cause } }));
    // Texts are made once per session here, not per block drawn (a session shows on three or four rows).
    const sessions = data.sessions.map((s) => ({ id: String(s.appointment_id), resourceIds: s.resource_ids,
      start: toWall(s.start, place), end: toWall(s.end, place), classNames: ["session", `status-${s.status}`],
      editable: ["pending", "booked"].includes(s.status),
      extendedProps: { session: s, text: shortText(s), label: describe(s) } }));
    const options = {
      locale: place.locale,
      view: week ? "resourceTimelineWeek" : "resourceTimelineDay",
      slotMinTime: clock(opens),
      slotMaxTime: clock(closes),
      slotDuration: clock(slotMinutes),
      snapDuration: clock(data.grid_minutes), // a click or a drag lands on a start the clinic books
      slotLabelInterval: clock(week ? 360 : 60),
      slotLabelFormat: week ? { hour: "numeric" } : { hour: "numeric", minute: "2-digit" },
      highlightedDates: [today(place)],
      slotWidth: Math.max(week ? 4 : 14, Math.floor(room / slots)),
      date: first,
      resources: data.resources.map((r) => ({ id: r.id, title: r.name, extendedProps: r })),
      events: [...background, ...sessions],
    };
    if (calendar === null) calendar = EventCalendar.create(document.getElementById("schedule"), { ...fixed, ...options });
    else for (const [name, value] of Object.entries(options)) calendar.setOption(name, value);
    const url = new URL(location.href);
    url.search = new URLSearchParams({ location_id: form.elements.location_id.value, day: form.elements.day.value,
      view: week ? "week" : "day" });
    history.replaceState(null, "", url);
  }

  const reload = () => load().catch((error) => notice(error.message));
  const step = (direction) => {
    const week = form.elements.view.value === "week";
    form.elements.day.value = addDays(form.elements.day.value, direction * (week ? 7 : 1));
    return reload();
  };
  form.addEventListener("change", reload);
  form.addEventListener("submit", (event) => { event.preventDefault(); reload(); });
  document.getElementById("previous").addEventListener("click", () => step(-1));
  document.getElementById("next").addEventListener("click", () => step(1));
  document.getElementById("today").addEventListener("click", () => {
    form.elements.day.value = today(placeNow());
    return reload();
  });
  document.getElementById("panel-close").addEventListener("click", closePanel);
  keepRolesValid(document.getElementById("schedule"));
  await load();

  // --- the side panel -------------------------------------------------------------------------------

  function showPanel(title, ...nodes) {
    const panel = document.getElementById("panel");
    document.getElementById("panel-title").textContent = title;
    document.getElementById("panel-body").replaceChildren(...nodes);
    panel.hidden = false;
    panel.focus({ preventScroll: true });
    panel.scrollIntoView({ block: "nearest" });
  }

  function closePanel() {
    document.getElementById("panel").hidden = true;
  }

  async function after(work, message) {
    try {
      await work();
    } catch (error) {
      if (error.status === 412) { // changed by someone else since shown: show it as it is now
        closePanel();
        await load();
      }
      throw error;
    }
    notice(message, "ok");
    await load();
  }

  async function openSession(session) {
    const place = state.place;
    const [patient, history, requests] = await Promise.all([
      api(`patients/${session.patient.id}`),
      api(`appointments?${new URLSearchParams({ patient_id: session.patient.id, limit: 50 })}`),
      api(`waitlist?${new URLSearchParams({ patient_id: session.patient.id, limit: 20 })}`).catch(() => ({ items: [] })),
    ]);
    const facts = element("dl", undefined, { class: "facts" });
    const fact = (term, value) => facts.append(element("dt", term), element("dd", value || "—"));
    fact("When", `${span(session.start, session.end, place)} (${zoneLabel(place)})`);
    fact("Service", session.service.name);
    fact("Plan", session.plan_progress || "not part of a plan");
    fact("Status", session.status === "pending"
      ? `held until ${timeOf(session.hold_expires_at, place)}` : STATUS_WORDS[session.status]);
    if (session.patient_confirmed_at) {
      facts.append(element("dt", "Patient"), element("dd", ` ${when(session.patient_confirmed_at, place)}`));
      facts.lastChild.prepend(element("span", "confirmed by patient", { class: "badge" }));
    }
    fact("Served by", session.resource_ids.map(resourceName).join(", "));
    fact("Phone", patient.phone);
    fact("E-mail", patient.email);
    fact("Born", patient.birth_date);
    const others = history.items.filter((a) => a.id !== session.appointment_id);
    const past = others.filter((a) => a.start < session.start).slice(-5);
    const next = others.filter((a) => a.start > session.start && ["booked", "pending"].includes(a.status));
    const line = (a) => element("li", `${when(a.start, place)} · ${(serviceOf[a.service_id] || {}).name
      || "service"} · ${STATUS_WORDS[a.status] || a.status}`);
    const openWaits = requests.items.filter((w) => ["waiting", "offered"].includes(w.status));
    const history_ = element("section", undefined, { "aria-label": "History" });
    history_.append(element("h3", "History"), past.length ? element("ul", undefined, { class: "compact" })
      : element("p", "No earlier sessions.", { class: "muted" }));
    if (past.length) history_.querySelector("ul").append(...past.map(line));
    history_.append(element("h3", "Coming up"), next.length ? element("ul", undefined, { class: "compact" })
      : element("p", "Nothing else booked.", { class: "muted" }));
    if (next.length) history_.querySelectorAll("ul")[past.length ? 1 : 0].append(...next.map(line));
    history_.append(element("h3", "Open requests"), element("p", openWaits.length
      ? openWaits.map((w) => `waitlist: ${(serviceOf[w.service_id] || {}).name || "service"} ${w.earliest_day}`
        + ` to ${w.latest_day}`).join("; ") : "None.", { class: openWaits.length ? "" : "muted" }));
    showPanel(`${session.patient.name}`, facts, sessionActions(session), history_,
      sessionMessages(session.appointment_id, place),
      element("a", "Open the patient's page", { href: `/app/patients?id=${session.patient.id}` }));
  }

  function sessionActions(session) {
    const id = session.appointment_id;
    const bar = element("div", undefined, { class: "row actions" });
    const status = (path, words) => action(words, () => after(
      () => api(`appointments/${id}/${path}`, { method: "POST", version: session.version }),
      `${session.patient.name}: ${words.toLowerCase()}.`)
      .then(closePanel));
    if (session.status === "pending" && session.proposed_in) {
      // A proposal's hold is booked by confirming its plan and released by discarding it, by anyone at the desk.
      bar.append(element("a", "Open the plan to confirm or discard it", {
        href: `/app/plans?id=${session.proposed_in}` }));
      return bar;
    }
    if (session.status === "pending" && session.answers_request) {
      // A public request's hold is booked by confirming the request and released by declining it.
      bar.append(element("a", "Answer the patient's request on the Requests page", { href: "/app/requests" }));
      return bar;
    }
    if (session.status === "pending") {
      bar.append(action("Book", () => after(() => api("appointments", { method: "POST", body: { hold_id: id },
        version: session.version }), "Booked.").then(closePanel)),
      action("Release", () => after(() => api(`holds/${id}`, { method: "DELETE", version: session.version }),
        "Hold released.")
        .then(closePanel)));
      return bar;
    }
    if (session.status === "booked") {
      bar.append(status("check-in", "Check in"), status("no-show", "No-show"));
      bar.append(action("Cancel…", async () => {
        const reason = await ask("Why is it cancelled? (kept in the audit log)", { answer: "patient asked",
          confirmLabel: "Cancel the session" });
        if (!reason) return;
        await after(() => api(`appointments/${id}/cancel`, { method: "POST", body: { reason },
          version: session.version }),
          `Cancelled ${session.patient.name}'s ${session.service.name}.`);
        closePanel();
      }));
      bar.append(action("Reschedule…", () => rescheduleOptions(session)));
    }
    if (session.status === "arrived") bar.append(status("complete", "Complete"));
    return bar;
  }

  async function rescheduleOptions(session) {
    // The next free times for the same service and patient over a week; or drag the session on the schedule.
    const place = state.place;
    const day = wallDay(session.start, place);
    const found = await api(`availability?${new URLSearchParams({ service_id: session.service.id,
      patient_id: session.patient.id, location_id: state.data.location.id, start: fromWall(`${day}T00:00:00`, place),
      end: fromWall(`${addDays(day, 7)}T00:00:00`, place), limit: 8 })}`);
    const list = element("ul", undefined, { class: "choices", id: "move-choices" });
    list.append(...found.slots.map((slot) => {
      const item = element("li", `${span(slot.start, slot.end, place)} · ${slot.clinician.name} `, { class: "slot" });
      item.append(action("Move here", () => after(() => moveSession(session.appointment_id, {
        start: slot.start, clinician_id: slot.clinician.id, room_id: slot.room ? slot.room.id : null,
        device_ids: slot.devices.map((d) => d.id) }, session.version), `Moved to ${when(slot.start, place)}.`)
        .then(closePanel)));
      return item;
    }));
    if (!found.slots.length) {
      list.append(element("li", `No free time that week: ${found.reasons.map((r) => r.message).join("; ")}`));
    }
    showPanel(`Move ${session.patient.name}'s ${session.service.name}`,
      element("p", "Choose a time, or drag the session on the schedule.", { class: "muted" }), list);
  }

  function resourceName(id) {
    const resource = state.data.resources.find((r) => r.id === id);
    return resource ? resource.name : id;
  }

  // --- moving by drag --------------------------------------------------------------------------------

  async function move(info) {
    const session = info.event.extendedProps.session;
    const place = state.place;
    const start = fromWall(wallOfCalendar(info.event.start), place);
    const clinician = session.resource_ids.find((r) => r.startsWith("clinician-"));
    const body = { start, clinician_id: Number(clinician.split("-")[1]), room_id: null, device_ids: [] };
    const target = info.newResource && info.newResource.extendedProps;
    if (target && target.kind === "clinician") body.clinician_id = target.resource_id;
    if (target && target.kind === "room") body.room_id = target.resource_id;
    if (target && target.kind === "device") body.device_ids = [target.resource_id];
    try {
      await moveSession(session.appointment_id, body, session.version);
      notice(`Moved ${session.patient.name}'s ${session.service.name} to ${when(start, place)}.`, "ok");
    } catch (error) {
      info.revert();
      notice(`Not moved: ${error.message}`);
      if (error.status === 412) await load();
      return;
    }
    await load();
  }

  // --- booking at a clicked time ---------------------------------------------------------------------

  function openBooking(info) {
    const place = state.place;
    const start = fromWall(wallOfCalendar(info.date), place);
    const resource = info.resource && info.resource.extendedProps;
    const where = resource ? ` · ${resource.name}` : "";
    const bookingForm = element("form", undefined, { class: "stack", id: "book-here" });
    const patientField = element("label", "Patient (name)");
    const patientInput = element("input", undefined, { name: "patient", required: true, autocomplete: "off",
      maxlength: "120" });
    patientField.append(patientInput);
    const matches = element("select", undefined, { name: "patient_id", "aria-label": "Matching patients",
      hidden: true });
    const serviceField = element("label", "Service");
    const serviceSelect = element("select", undefined, { name: "service_id", required: true });
    serviceSelect.append(...services.map((s) => element("option", `${s.name} (${s.duration_minutes} min)`,
      { value: s.id })));
    serviceField.append(serviceSelect);
    const result = element("div", undefined, { id: "book-here-result" });
    bookingForm.append(patientField, matches, serviceField, element("button", "Find this time", { type: "submit" }),
      result);
    patientInput.addEventListener("change", async () => {
      const page = await api(`patients?${new URLSearchParams({ name: patientInput.value, limit: 10 })}`)
        .catch((error) => { notice(error.message); return { items: [] }; });
      matches.replaceChildren(...page.items.map((p) => element("option",
        `${p.given_name} ${p.family_name}, born ${p.birth_date}`, { value: p.id })));
      matches.hidden = !page.items.length;
      if (!page.items.length) notice("No patient has that name; register the patient first.", "info");
    });
    bookingForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const button = bookingForm.querySelector("button[type=submit]");
      busy(button, () => findHere(start, resource, matches.value, Number(serviceSelect.value), result));
    });
    showPanel(`Book at ${when(start, place)}${where}`, element("p", `${zoneLabel(place)}`, { class: "muted" }),
      bookingForm);
    patientInput.focus();
  }

  async function findHere(start, resource, patientId, serviceId, result) {
    if (!patientId) throw new Error("Choose the patient first: type a name and pick them from the list.");
    const place = state.place;
    const query = { service_id: serviceId, patient_id: patientId, location_id: state.data.location.id, start,
      end: new Date(Date.parse(start) + 60_000).toISOString(), limit: 1 };
    if (resource && resource.kind === "clinician") query.clinician_id = resource.resource_id;
    const found = await api(`availability?${new URLSearchParams(query)}`);
    if (!found.slots.length) {
      result.replaceChildren(element("p", `Not bookable at ${timeOf(start, place)}: `
        + `${found.reasons.map((r) => r.message).join("; ") || "the time is taken"}.`, { class: "error" }));
      return;
    }
    const slot = found.slots[0];
    const choice = { service_id: serviceId, patient_id: Number(patientId), start: slot.start,
      clinician_id: slot.clinician.id, room_id: slot.room ? slot.room.id : null,
      device_ids: slot.devices.map((d) => d.id) };
    const who = [slot.clinician.name, slot.room && slot.room.name, ...slot.devices.map((d) => d.name)]
      .filter(Boolean).join(" · ");
    const line = element("p", `${span(slot.start, slot.end, place)} · ${who}`, { class: "slot" });
    result.replaceChildren(line, action("Book", () => after(() => api("appointments", { method: "POST",
      body: choice }), `Booked ${serviceOf[serviceId].name} at ${when(slot.start, place)}.`).then(closePanel)),
    action("Hold", () => after(() => api("holds", { method: "POST", body: choice }),
      `Held; confirm it from its panel.`).then(closePanel)));
  }
}
