// A patient's own page behind their secret link: upcoming sessions, asking to move one.
import { action, api, element } from "../core.js";
import { when } from "../clinic-time.js";

export async function open() {
  const token = location.pathname.split("/").pop();
  const list = document.getElementById("sessions");
  try {
    const sessions = await api(`public/patients/${token}/sessions`);
    if (!sessions.length) {
      list.replaceChildren(element("li", "No upcoming sessions."));
      return;
    }
    list.replaceChildren(...sessions.map((session) => {
      const item = element("li", `${when(session.start)} · ${session.service}`
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
    document.getElementById("move-title").textContent = `Move ${session.service} of ${when(session.start)}`;
    document.getElementById("move-times").replaceChildren(...slots.map((slot) => {
      const item = element("li", `${when(slot.start)} · ${slot.location_name} `, { class: "slot" });
      item.append(action("Ask for this time", async () => {
        const created = await api(`public/patients/${token}/moves`, { method: "POST",
          body: { appointment_id: session.appointment_id, location_id: slot.location_id, start: slot.start } });
        location.assign(new URL(created.status_url).pathname);
      }));
      return item;
    }));
  }
}