// A clinician's day: their own when they sign in, anyone's for the desk; prints cleanly; the calendar-feed link.
import { api, busy, element, fill, notice, onSubmit, reveal } from "../core.js";
import { addDays, dayLabel, dayStart, placeOf, timeOf, today, zoneLabel } from "../clinic-time.js";

export async function open(me) {
  const form = document.getElementById("roster-form");
  const locations = (await api("locations?limit=200")).items;
  const places = Object.fromEntries(locations.map((l) => [l.id, placeOf(l)]));
  let clinicians;
  if (me.role === "clinician") {
    document.getElementById("clinician-choice").remove();
    clinicians = [await api(`clinicians/${me.clinician_id}`)];
  } else {
    clinicians = await fill(form.elements.clinician_id, "clinicians?limit=200");
  }
  const chosen = () => (me.role === "clinician" ? clinicians[0]
    : clinicians.find((c) => String(c.id) === form.elements.clinician_id.value));
  const placeOfClinician = (clinician) => places[clinician.location_id] || placeOf(locations[0]);
  form.elements.day.value = new URLSearchParams(location.search).get("day") || today(placeOfClinician(chosen()));
  document.getElementById("print").addEventListener("click", () => window.print());
  document.getElementById("feed").addEventListener("click", (event) => busy(event.currentTarget, async () => {
    // A new link each time: issuing one stops the previous one, which is how a leaked link is withdrawn.
    const clinician = chosen();
    const feed = await api(`clinicians/${clinician.id}/calendar-feed`, { method: "POST" });
    document.getElementById("feed-url").value = feed.url;
    document.getElementById("feed-note").textContent = `${clinician.name}: ${feed.note}`;
    reveal(document.getElementById("feed-card"));
  }));
  document.getElementById("feed-copy").addEventListener("click", async () => {
    const field = document.getElementById("feed-url");
    field.select();
    await navigator.clipboard.writeText(field.value).then(() => notice("Copied.", "ok"),
      () => notice("Select the address and copy it with the keyboard.", "info"));
  });

  const show = async ({ day }) => {
    const clinician = chosen();
    const place = placeOfClinician(clinician);
    const entries = await api(`clinicians/${clinician.id}/roster?${new URLSearchParams({
      start: dayStart(day, place), end: dayStart(addDays(day, 1), place) })}`);
    const whose = me.role === "clinician" ? "My" : `${clinician.name}'s`;
    document.getElementById("roster-title").textContent = `${whose} roster, ${dayLabel(day, place)}`;
    document.getElementById("roster-zone").textContent = `Times are ${zoneLabel(place)}.`;
    const body = document.querySelector("#roster tbody");
    if (!entries.length) {
      // Build the row first: replaceChildren() returns nothing, so chaining on it failed on every empty day.
      const row = element("tr");
      row.append(element("td", "No sessions that day.", { colspan: 7 }));
      body.replaceChildren(row);
      return;
    }
    body.replaceChildren(...entries.map((entry) => {
      const row = element("tr");
      for (const text of [`${timeOf(entry.starts_at, place)}–${timeOf(entry.ends_at, place)}`, entry.patient.name,
        entry.service.name, entry.room ? entry.room.name : "", entry.devices.map((d) => d.name).join(", "),
        entry.plan_progress || "", entry.status]) row.append(element("td", text));
      if (entry.patient_confirmed_at) {
        row.lastChild.append(" ", element("span", "confirmed by patient", { class: "badge" }));
      }
      return row;
    }));
  };
  onSubmit("roster-form", show);
  await busy(form.querySelector("button[type=submit]"), () => show(Object.fromEntries(new FormData(form))));
}
