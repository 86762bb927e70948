// The nightly runs: each location's history; for one run what it placed, moved, reassigned and left waiting and how
// far its answer may be from the best possible (the gap); for administrators, a run started by hand ("Run now").
import { action, api, busy, element, fill, notice, onSubmit, table } from "../core.js";
import { dayLabel, placeOf, timeOf, when, zoneLabel } from "../clinic-time.js";

const HISTORY_LENGTH = 30;
const count = (number) => Math.round(number).toLocaleString("en-US");
const sessions = (number) => `${count(number)} session${number === 1 ? "" : "s"}`;
const LEVELS = { placed: "Sessions placed (priority points)", sooner: "Days waited, summed",
  quality: "Continuity, balance, idle gaps, moves" };
const TRIGGERS = { nightly: "nightly", manual: "by hand" };
const triggerOf = (run) => TRIGGERS[run.trigger] || run.trigger;

function percent(gap) {
  // A gap is relative to the answer's value; 0 means no better answer exists, null that nothing bounds it.
  if (gap === null || gap === undefined) return "no bound";
  if (gap === 0) return "0 % (proven optimal)";
  return gap < 0.001 ? "< 0.1 %" : `${(gap * 100).toFixed(1)} %`;
}

function howGood(run) {
  // "placed 1,040 of 1,200 priority points; at most 1,061 can be placed": the answer against the placed level's bound.
  if (run.objective === null) return run.status === "succeeded" ? "nothing was waiting" : "";
  const most = run.bound === null ? "no bound proved" : `at most ${count(Math.floor(run.bound + 1e-6))} can be placed`;
  return `placed ${count(run.objective)} of ${count(run.points_waiting)} priority points; ${most}`;
}

const of = (run, ...kinds) => run.changes.filter((change) => kinds.includes(change.action));

function section(title, headings, rows, empty) {
  const part = element("section", undefined, { "data-part": title.toLowerCase().replace(/ /g, "-") });
  part.append(element("h3", `${title} (${rows.length})`), rows.length ? table(headings, rows) : element("p", empty,
    { class: "muted" }));
  return part;
}

function showRun(run, place) {
  const box = document.getElementById("run-report");
  const names = run.names;
  const name = (kind, id) => (id === null || id === undefined ? "none" : names[kind][id] || `#${id}`);
  const session = (change) => names.appointments[change.appointment_id] || {};
  const resources = (side) => [name("clinicians", side.clinician_id), name("rooms", side.room_id),
    side.device_ids.map((id) => name("devices", id)).join(", ") || "no device"].join(" · ");
  const at = (iso) => when(iso, place);
  const facts = [["Trigger", triggerOf(run)], ["Status", run.status],
    ["Started", at(run.started_at)], ["Finished", run.finished_at ? at(run.finished_at) : "still running"],
    ["How good", howGood(run) || "—"], ["Gap", percent(run.gap)], ["Gap to CP-SAT's bound", percent(run.solver_gap)],
    ["Gap to the relaxation's bound", percent(run.relaxation_gap)],
    ["First solution after", run.first_solution_seconds === null ? "—" : `${run.first_solution_seconds.toFixed(1)} s`]];
  const list = element("dl");
  for (const [term, value] of facts) list.append(element("dt", term), element("dd", String(value)));
  const stages = run.stages.map((stage) => [LEVELS[stage.name] || stage.name, count(stage.value),
    run.greedy[stage.name] === undefined ? "—" : count(run.greedy[stage.name]),
    stage.bound === null ? "—" : count(stage.bound), stage.relaxation === null ? "—" : count(stage.relaxation),
    percent(stage.gap), stage.status]);
  const placed = of(run, "waitlist_hold", "plan_session").map((change) => [
    name("patients", change.patient_id), name("services", change.service_id), at(change.start),
    change.status === "pending" ? "held for the desk to confirm" : change.status,
    change.action === "waitlist_hold" ? `waitlist request ${change.request_id}`
      : `plan ${change.plan_id}, session ${change.sequence}`]);
  const moved = of(run, "move").map((change) => [name("patients", session(change).patient_id),
    name("services", session(change).service_id), at(change.before.start), at(change.after.start),
    resources(change.after)]);
  const reassigned = of(run, "reassign").map((change) => [name("patients", session(change).patient_id),
    name("services", session(change).service_id), resources(change.before), resources(change.after)]);
  const kept = of(run, "kept_as_booked").map((change) => [name("patients", session(change).patient_id),
    name("services", session(change).service_id), at(change.start), change.reason]);
  const waiting = run.waiting.map((entry) => [name("patients", entry.patient_id), name("services", entry.service_id),
    entry.priority, entry.reason]);
  const skipped = of(run, "reassignments_skipped", "not_placed").map((change) => change.reason);
  const zone = zoneLabel(place);
  box.replaceChildren(element("h2", `Run of ${dayLabel(run.run_date, place)}`, { id: "run-title" }),
    element("p", `Times are ${zone}.`, { class: "muted" }), list,
    ...(run.error ? [element("p", `Error: ${run.error}`, { class: "error" })] : []),
    ...skipped.map((reason) => element("p", `Not done: ${reason}`, { class: "muted" })),
    section("Levels", ["Level", "This run", "First-fit", "CP-SAT's bound", "Relaxation's bound", "Gap", "Status"],
      stages, "No levels recorded."),
    section("Placed", ["Patient", "Service", `When (${zone})`, "Status", "For"], placed, "Nothing was placed."),
    section("Moved", ["Patient", "Service", `Before (${zone})`, `After (${zone})`, "Served by"], moved,
      "No booked time moved."),
    section("Reassigned", ["Patient", "Service", "Before", "After"], reassigned, "Nobody was reassigned."),
    ...(kept.length ? [section("Kept as booked", ["Patient", "Service", `When (${zone})`, "What changed since"], kept)]
      : []),
    section("Left waiting", ["Patient", "Service", "Priority", "Why"], waiting, "Nothing is left waiting."));
  box.hidden = false;
}

function historyRow(run, place, openRun) {
  // One night in the history: its outcome in counts, so a manager can scan the weeks without opening each run.
  const row = element("tr", undefined, { "data-id": run.id });
  const firstFit = run.greedy.placed_sessions === undefined ? "—" : sessions(run.greedy.placed_sessions);
  const started = `${timeOf(run.started_at, place)}, ${triggerOf(run)}`;
  const cells = [[dayLabel(run.run_date, place)], [started], [run.status],
    [sessions(run.sessions_placed), "number"], [count(run.change_counts.move || 0), "number"],
    [count(run.waiting_count), "number"], [firstFit, "number"], [percent(run.gap)]];
  for (const [text, kind] of cells) row.append(element("td", text, { class: kind }));
  const cell = element("td");
  cell.append(action("Show", () => openRun(run.id),
    { "aria-label": `Show the run of ${dayLabel(run.run_date, place)} started ${started}` }));
  row.append(cell);
  return row;
}

export async function open(me) {
  const form = document.getElementById("runs-form");
  const locations = await fill(form.elements.location_id, "locations?limit=200");
  const chosen = new URLSearchParams(location.search).get("location_id");
  if (chosen) form.elements.location_id.value = chosen;
  const placeOfId = (id) => placeOf(locations.find((item) => String(item.id) === String(id)));
  const body = document.querySelector("#runs tbody");
  const more = document.getElementById("runs-more");

  const openRun = async (id) => {
    for (const row of body.rows) row.setAttribute("aria-selected", String(row.dataset.id === String(id)));
    const run = await api(`optimization-runs/${id}`);
    showRun(run, placeOfId(run.location_id));
  };
  const show = async ({ location_id }, runId) => {
    const page = await api(`optimization-runs?location_id=${location_id}&limit=${HISTORY_LENGTH}&brief=true`);
    document.getElementById("run-report").hidden = true;
    more.hidden = page.total <= page.items.length;
    more.textContent = `The latest ${page.items.length} of ${count(page.total)} runs.`;
    if (!page.items.length) {
      const row = element("tr"); // built first: replaceChildren() returns nothing to chain on
      row.append(element("td", "No optimization has run here yet.", { colspan: 9 }));
      body.replaceChildren(row);
      return;
    }
    const place = placeOfId(location_id);
    body.replaceChildren(...page.items.map((run) => historyRow(run, place, openRun)));
    await openRun(runId || page.items[0].id);
  };
  onSubmit("runs-form", show);

  const runNow = document.getElementById("run-now");
  if (me.role !== "admin") runNow.remove(); // the API refuses anyone else (403)
  else {
    runNow.hidden = false;
    runNow.addEventListener("click", () => busy(runNow, async () => {
      const values = Object.fromEntries(new FormData(form));
      notice(`Re-planning ${placeOfId(values.location_id).name} now; this can take a minute.`, "info");
      const run = await api("optimization-runs", { method: "POST", body: { location_id: Number(values.location_id) } });
      await show(values, run.id);
      if (run.status === "succeeded") notice(`The run is done: ${howGood(run)}.`, "ok");
      else notice(`The run ${run.status}: ${run.error || "see its record"}.`);
    }));
  }
  await busy(form.querySelector("button[type=submit]"), () => show(Object.fromEntries(new FormData(form))));
}
