// The nightly runs: each location's history, and for one run what it placed, moved, reassigned and left waiting.
import { action, api, busy, element, fill, onSubmit, table } from "../core.js";
import { when } from "../clinic-time.js";
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
    ["Started", `${when(run.started_at)} (${zone})`],
    ["Finished", run.finished_at ? `${when(run.finished_at)} (${zone})` : "still running"],
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
    name("patients", change.patient_id), name("services", change.service_id), when(change.start),
    change.status === "pending" ? "held for the desk to confirm" : change.status,
    change.action === "waitlist_hold" ? `waitlist request ${change.request_id}` : `plan ${change.plan_id}, session ${change.sequence}`]);
  const moved = of("move").map((change) => [name("patients", session(change).patient_id),
    name("services", session(change).service_id), when(change.before.start), when(change.after.start),
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

export async function open() {
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
