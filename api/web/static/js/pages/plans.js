// Treatment plans at the desk: find a patient's plan, say when the patient can come and how urgent it is, propose
// the sessions, read the proposal by date with who and where, then confirm it or discard it.
// Plan dates and weekly times are the location's wall clock; every instant is shown in the location's zone.
import { api, busy, element, notice, onSubmit, table } from "../core.js";
import { dateOf, dayLabel, dayStart, placeOf, timeOf, zoneLabel } from "../clinic-time.js";

const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const STATUS = { draft: "Draft", proposed: "Proposed: sessions held", confirmed: "Confirmed" };
const SESSION_STATUS = { booked: "Booked", arrived: "Checked in", fulfilled: "Done", noshow: "No-show",
  cancelled: "Cancelled" };
const LIST_LIMIT = 100;

export async function open() {
  const [services, archived, locations] = await Promise.all([api("services?limit=200"),
    api("services?archived=true&limit=200"), api("locations?limit=200")]);
  // Archived services too: a plan's past sessions still name them.
  const serviceNames = Object.fromEntries([...services.items, ...archived.items].map((s) => [s.id, s.name]));
  const serviceName = (id) => serviceNames[id] || `Service ${id}`;
  const places = Object.fromEntries(locations.items.map((l) => [l.id, placeOf(l)]));
  const state = { plan: null, blackouts: [], edited: false }; // edited: the form differs from the plan as saved
  const card = document.getElementById("plan");
  const form = document.getElementById("plan-edit");
  const filter = onSubmit("plan-filter", showList);

  const placeOfPlan = (plan) => places[plan.location_id] || placeOf(locations.items[0]);
  const day = (iso, place) => dateOf(dayStart(iso, place), place);

  function progress(plan) {
    // "Shockwave therapy: 1 of 3 done, 2 booked", per line of the plan.
    return plan.lines.map((line) => {
      const of = plan.sessions.filter((s) => s.service_id === line.service_id);
      const counted = (...statuses) => of.filter((s) => s.appointment && statuses.includes(s.appointment.status))
        .length;
      const parts = [`${counted("fulfilled")} of ${line.count} done`];
      for (const [number, words] of [[counted("booked", "arrived"), "booked"], [counted("pending"), "held"],
        [of.filter((s) => !s.appointment).length, "not placed"]]) {
        if (number) parts.push(`${number} ${words}`);
      }
      return `${serviceName(line.service_id)}: ${parts.join(", ")}`;
    }).join("; ");
  }

  async function showList({ patient, status }) {
    const query = new URLSearchParams({ limit: LIST_LIMIT });
    if (patient) query.set("patient", patient);
    if (status) query.set("status", status);
    const page = await api(`plans?${query}`);
    const box = document.getElementById("plans");
    if (!page.items.length) {
      box.replaceChildren(element("p", "No plan matches.", { class: "muted" }));
      return;
    }
    const rows = page.items.map((plan) => {
      const place = placeOfPlan(plan);
      return [element("a", plan.patient_name, { href: `/app/plans?id=${plan.id}` }), plan.template_name || "—",
        STATUS[plan.status], `${day(plan.earliest_start, place)} – ${day(plan.latest_end, place)}`, progress(plan)];
    });
    const grid = table(["Patient", "Template", "Status", "Dates", "Progress"], rows);
    page.items.forEach((plan, index) => grid.tBodies[0].rows[index].setAttribute("data-id", plan.id));
    const more = page.total > page.items.length
      ? [element("p", `The newest ${page.items.length} of ${page.total} plans; narrow the search to see others.`,
        { class: "muted" })] : [];
    box.replaceChildren(grid, ...more);
  }

  function windowRow(window = { weekday: 0, starts: "08:00", ends: "12:00", preferred: false }) {
    const row = element("div", undefined, { class: "row rows-item" });
    const weekday = element("select", undefined, { name: "weekday" });
    weekday.append(...WEEKDAYS.map((name, number) => element("option", name, { value: number })));
    weekday.value = window.weekday;
    const time = (name, value) => element("input", undefined, { name, type: "time", value: value.slice(0, 5),
      required: true });
    const labelled = (text, field) => { const label = element("label", text); label.append(field); return label; };
    const preferred = element("input", undefined, { name: "preferred", type: "checkbox" });
    preferred.checked = window.preferred;
    const liked = element("label", undefined, { class: "check" });
    liked.append(preferred, "Preferred");
    const remove = element("button", "Remove", { type: "button", class: "secondary" });
    remove.addEventListener("click", () => { row.remove(); state.edited = true; });
    row.append(labelled("Day", weekday), labelled("From", time("starts", window.starts)),
      labelled("To", time("ends", window.ends)), liked, remove);
    return row;
  }

  function windowsOnForm() {
    return [...document.querySelectorAll("#windows .rows-item")].map((row) => ({
      weekday: Number(row.querySelector("[name=weekday]").value), starts: row.querySelector("[name=starts]").value,
      ends: row.querySelector("[name=ends]").value, preferred: row.querySelector("[name=preferred]").checked }));
  }

  function showBlackouts() {
    const place = placeOfPlan(state.plan);
    const list = document.getElementById("blackouts");
    if (!state.blackouts.length) {
      list.replaceChildren(element("li", "None.", { class: "muted" }));
      return;
    }
    list.replaceChildren(...state.blackouts.map((date) => {
      const item = element("li", dayLabel(date, place));
      const remove = element("button", "Remove", { type: "button", class: "secondary",
        "aria-label": `Remove ${dayLabel(date, place)}` });
      remove.addEventListener("click", () => {
        state.blackouts = state.blackouts.filter((other) => other !== date);
        state.edited = true;
        showBlackouts();
      });
      item.append(remove);
      return item;
    }));
  }

  for (const event of ["input", "change"]) {
    document.getElementById("windows").addEventListener(event, () => { state.edited = true; });
  }
  form.elements.priority.addEventListener("change", () => { state.edited = true; });
  document.getElementById("add-window").addEventListener("click", () => {
    const row = windowRow();
    state.edited = true;
    document.getElementById("windows").append(row);
    row.querySelector("select").focus();
  });
  document.getElementById("add-blackout").addEventListener("click", () => {
    const input = document.getElementById("new-blackout");
    if (!input.value) {
      notice("Choose the date the patient cannot come first.");
      return;
    }
    state.blackouts = [...new Set([...state.blackouts, input.value])].sort();
    state.edited = true;
    input.value = "";
    showBlackouts();
  });

  function lineWords(line) {
    const gap = (least, most, unit) => {
      if (least === null && most === null) return null;
      if (least !== null && least === most) return `exactly ${least} ${unit}`;
      if (least !== null && most !== null) return `${least}-${most} ${unit}`;
      return least !== null ? `at least ${least} ${unit}` : `at most ${most} ${unit}`;
    };
    const spacing = [gap(line.min_gap_days, line.max_gap_days, "days"),
      gap(line.min_gap_hours, line.max_gap_hours, "h")].filter(Boolean).join(" and ");
    return `${serviceName(line.service_id)} × ${line.count}${spacing ? `, ${spacing} apart` : ""}`;
  }

  function showFacts(plan, place) {
    const facts = [["Patient", plan.patient_name], ["Template", plan.template_name || "—"],
      ["Status", STATUS[plan.status]], ["Dates", `${day(plan.earliest_start, place)} – ${day(plan.latest_end, place)}`],
      ["Sessions", plan.lines.map(lineWords).join("; ")], ["Progress", progress(plan)],
      ["Location", `${place.name} (${zoneLabel(place)})`]];
    const list = document.getElementById("plan-facts");
    list.replaceChildren();
    for (const [term, value] of facts) list.append(element("dt", term), element("dd", value));
  }

  function sessionRow(session, count, place) {
    const name = `${serviceName(session.service_id)} ${session.sequence} of ${count}`;
    const appointment = session.appointment;
    if (!appointment) return ["—", "—", name, "", "", "", `Not placed: ${session.unplaced_reason}`];
    const status = appointment.status === "pending"
      ? `Held until ${timeOf(appointment.hold_expires_at, place)}` : SESSION_STATUS[appointment.status];
    return [dateOf(appointment.start, place), `${timeOf(appointment.start, place)}–${timeOf(appointment.end, place)}`,
      name, session.clinician_name || "—", session.room_name || "—", session.device_names.join(", ") || "—", status];
  }

  function showSessions(plan, place) {
    const box = document.getElementById("proposal");
    if (!plan.sessions.length) {
      box.replaceChildren(element("p", "No sessions proposed yet.", { class: "muted" }));
      return;
    }
    const counts = Object.fromEntries(plan.lines.map((line) => [line.service_id, line.count]));
    const placed = plan.sessions.filter((s) => s.appointment)
      .sort((a, b) => Date.parse(a.appointment.start) - Date.parse(b.appointment.start));
    const unplaced = plan.sessions.filter((s) => !s.appointment);
    const heading = plan.status === "confirmed" ? "Sessions, by date" : "Proposed sessions, by date";
    const grid = table(["Date", "Time", "Session", "Clinician", "Room", "Devices", "Status"],
      [...placed, ...unplaced].map((s) => sessionRow(s, counts[s.service_id], place)), { class: "records",
        id: "sessions" });
    box.replaceChildren(element("h3", heading), element("p", `Dates and times are ${zoneLabel(place)}.`,
      { class: "muted" }), grid);
  }

  function showPlan(plan) {
    state.plan = plan;
    state.blackouts = [...plan.blackouts];
    state.edited = false;
    const place = placeOfPlan(plan);
    document.getElementById("plan-title").textContent = `Plan ${plan.id}: ${plan.patient_name}`;
    showFacts(plan, place);
    for (const zone of card.querySelectorAll(".zone")) zone.textContent = zoneLabel(place);
    document.getElementById("windows").replaceChildren(...plan.windows.map(windowRow));
    showBlackouts();
    form.elements.priority.value = plan.priority;
    const confirmed = plan.status === "confirmed";
    for (const part of form.querySelectorAll("fieldset, input, select, button")) part.disabled = confirmed;
    document.getElementById("plan-locked").hidden = !confirmed;
    document.getElementById("propose").hidden = confirmed;
    document.getElementById("discard").hidden = plan.status !== "proposed";
    document.getElementById("confirm").hidden = plan.status !== "proposed";
    showSessions(plan, place);
    card.hidden = false;
  }

  async function changed(plan, message, kind = "ok") {
    showPlan(plan);
    notice(message, kind);
    await showList(Object.fromEntries(new FormData(filter)));
  }

  const save = () => api(`plans/${state.plan.id}`, { method: "PATCH", body: { windows: windowsOnForm(),
    blackouts: state.blackouts, priority: Number(form.elements.priority.value) } });

  onSubmit(form, async () => {
    const before = state.plan.status;
    await changed(await save(), before === "proposed"
      ? "Saved. The proposal was withdrawn and its holds released: propose the sessions again." : "Saved.");
  });

  function keepEdits() {
    // Confirming or discarding redraws the plan as saved; changes not saved yet would silently go.
    if (state.edited) {
      throw new Error("The weekly times, dates or priority have changes not saved yet: save them first (that "
        + "withdraws this proposal), or reload the page to drop them.");
    }
  }

  const button = (id, work) => {
    const node = document.getElementById(id);
    node.addEventListener("click", () => busy(node, work));
  };
  button("propose", async () => {
    if (state.edited) await save(); // the sessions are proposed for what the form shows
    const proposal = await api(`plans/${state.plan.id}/proposal`, { method: "POST" });
    const held = `${proposal.placed} session${proposal.placed === 1 ? "" : "s"} held`;
    await changed(proposal.plan, proposal.unplaced ? `${held}, ${proposal.unplaced} not placed: see why below.`
      : `${held}: confirm the plan to book them.`, proposal.unplaced ? "info" : "ok");
    document.getElementById("proposal").scrollIntoView({ block: "start", behavior: "instant" });
  });
  button("discard", async () => {
    keepEdits();
    const plan = await api(`plans/${state.plan.id}/proposal`, { method: "DELETE" });
    await changed(plan, "Proposal discarded: its holds are released and the plan is a draft again.");
  });
  button("confirm", async () => {
    keepEdits();
    const plan = await api(`plans/${state.plan.id}/confirm`, { method: "POST" });
    await changed(plan, "Plan confirmed: every held session is booked.");
  });

  await showList({});
  const chosen = new URLSearchParams(location.search).get("id");
  if (chosen) showPlan(await api(`plans/${encodeURIComponent(chosen)}`));
}
