// The front desk's list of visit requests: who asks for what and when, in the location's zone; confirm (linking
// the visitor to an existing patient record if they are one) or decline with a reason the visitor reads.
import { action, api, ask, busy, element, notice, table } from "../core.js";
import { placeOf, span, when, zoneLabel } from "../clinic-time.js";
import { DateTime } from "/vendor/luxon.js";

const KINDS = { telehealth: "Telehealth request", in_office: "In-office request", move: "Move request" };
const fullName = (patient) => `${patient.given_name} ${patient.family_name}`;
// A birth date is a calendar date, not an instant: only written in the location's locale ("Jun 15, 1988").
const born = (day, place) => DateTime.fromISO(day, { zone: "UTC" }).setLocale(place.locale)
  .toLocaleString(DateTime.DATE_MED);

export async function open() {
  const [locations, services] = await Promise.all([api("locations?limit=200"), api("services?limit=200")]);
  const places = Object.fromEntries(locations.items.map((where) => [where.id, placeOf(where)]));
  const serviceNames = Object.fromEntries(services.items.map((service) => [service.id, service.name]));
  const refresh = document.getElementById("refresh");
  refresh.addEventListener("click", () => busy(refresh, show));
  await show();

  async function show() {
    const requests = await api("visit-requests");
    const box = document.getElementById("requests");
    const zones = [...new Set(requests.map((request) => zoneLabel(places[request.location_id])))];
    const note = document.getElementById("requests-zone");
    note.textContent = `Times are ${zones.join(" or ")}.`;
    note.hidden = !requests.length;
    if (!requests.length) {
      box.replaceChildren(element("p", "No request is waiting.", { class: "muted" }));
      return;
    }
    box.replaceChildren(table(["What", "When", "Patient", "Reason", "Patient record", ""], requests.map(row)));
  }

  function row(request) {
    const place = places[request.location_id];
    const who = request.patient;
    const what = element("div", serviceNames[request.service_id] || `service ${request.service_id}`);
    what.append(element("div", KINDS[request.kind] || request.kind, { class: "muted" }));
    const timing = element("div", span(request.start, request.end, place), { class: "when" });
    if (request.moves_from) timing.append(element("div", `now booked ${when(request.moves_from, place)}`));
    timing.append(element("div", `held until ${when(request.hold_expires_at, place)}`, { class: "muted" }));
    const patient = element("div", fullName(who));
    for (const line of [`born ${born(who.birth_date, place)}`, who.phone, who.email].filter(Boolean)) {
      patient.append(element("div", line, { class: "muted" }));
    }
    const record = request.possible_matches.length ? recordChoice(request, place) : element("span",
      request.new_patient ? "new record" : "existing patient", { class: "muted" });
    const actions = element("div", undefined, { class: "row" });
    actions.append(action("Confirm", () => confirm(request, record.value)),
      action("Decline", () => decline(request)));
    return [what, timing, patient, request.reason, record, actions];
  }

  function recordChoice(request, place) {
    // Existing patients the visitor may be (same birth date and family name, or same phone or e-mail).
    const choice = element("select", undefined, { "aria-label": `Patient record for ${fullName(request.patient)}` });
    choice.append(element("option", "Keep as a new patient", { value: "" }),
      ...request.possible_matches.map((match) => element("option", `Same as ${fullName(match)}, born `
        + `${born(match.birth_date, place)} (#${match.id})`, { value: match.id })));
    return choice;
  }

  async function answer(path, body) {
    // A request answered elsewhere (409) or lapsed (410) leaves this list stale: show the list as it is now.
    try {
      return await api(path, { method: "POST", body });
    } catch (error) {
      if (error.status === 409 || error.status === 410) await show();
      throw error;
    }
  }

  async function confirm(request, patientId) {
    const done = await answer(`visit-requests/${request.id}/confirm`,
      patientId ? { patient_id: Number(patientId) } : {});
    const name = patientId ? fullName(request.possible_matches.find((p) => String(p.id) === patientId))
      : fullName(request.patient);
    notice(done.kind === "move" ? `Move confirmed: ${name}'s session is now ${when(done.start,
      places[done.location_id])}.` : `Request confirmed: ${name} is booked.`, "ok");
    await show();
  }

  async function decline(request) {
    const reason = await ask(`Why decline ${fullName(request.patient)}'s request? The visitor reads this.`,
      { confirmLabel: "Decline request" });
    if (!reason) return;
    await answer(`visit-requests/${request.id}/decline`, { reason });
    notice(`Request declined; ${fullName(request.patient)}'s time is free again.`, "ok");
    await show();
  }
}
