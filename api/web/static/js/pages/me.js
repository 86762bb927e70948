// A patient's own page behind their secret link: upcoming sessions, asking to move one.
// Times are the clinic location's, in its zone and locale, whatever the patient's device says.
import { action, api, element, reveal } from "../core.js";
import { placeOf, when, zoneLabel } from "../clinic-time.js";
import { freeTimes } from "../free-times.js";

export async function open() {
  const token = location.pathname.split("/").pop();
  const list = document.getElementById("sessions");
  let places;
  try {
    const [sessions, locations] = await Promise.all([api(`public/patients/${token}/sessions`),
      api("public/locations")]);
    places = Object.fromEntries(locations.map((where) => [where.id, placeOf(where)]));
    if (!sessions.length) {
      list.replaceChildren(element("li", "No upcoming sessions."));
      return;
    }
    const zones = new Set(sessions.map((session) => zoneLabel(places[session.location_id])));
    const note = document.getElementById("sessions-zone");
    note.textContent = `Times are ${[...zones].join(" or ")}.`;
    note.hidden = false;
    list.replaceChildren(...sessions.map((session) => {
      const item = element("li", `${when(session.start, places[session.location_id])} · ${session.service}`
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
    document.getElementById("move-title").textContent =
      `Move ${session.service} of ${when(session.start, places[session.location_id])}`;
    document.getElementById("move-times").replaceChildren(...(slots.length ? freeTimes(slots, places, async (slot) => {
      const created = await api(`public/patients/${token}/moves`, { method: "POST",
        body: { appointment_id: session.appointment_id, location_id: slot.location_id, start: slot.start } });
      location.assign(new URL(created.status_url).pathname);
    }, { verb: "Ask for" }) : [element("p", "No free time in the coming two weeks; please call the clinic.")]));
    reveal(document.getElementById("move-card"));
  }
}
