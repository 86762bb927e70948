// The day board: one line per clinician, room and device unit, each session a block at its local time.
import { api, busy, element, fill, onSubmit } from "../core.js";
import { clockTime, minutesOfDay, placeOf, timeOf, today, wallDay, zoneLabel } from "../clinic-time.js";

export async function open() {
  const form = document.getElementById("board-form");
  const locations = await fill(form.elements.location_id, "locations?limit=200");
  const places = Object.fromEntries(locations.map((l) => [l.id, placeOf(l)]));
  form.elements.day.value = new URLSearchParams(location.search).get("day") || today(placeOf(locations[0]));
  const show = async ({ day, location_id }) => {
    const place = places[location_id];
    const rows = await api(`day-board/${day}?location_id=${location_id}`);
    const opens = 7 * 60, closes = 20 * 60, width = closes - opens;
    const board = document.getElementById("board");
    document.getElementById("board-zone").textContent = `Times are ${zoneLabel(place)}.`;
    const hours = element("div", undefined, { class: "board-row board-hours" });
    hours.append(element("span", "", { class: "board-name" }));
    const scale = element("div", undefined, { class: "board-lane" });
    for (let hour = 7; hour < 20; hour += 1) {
      // in the location's locale, as the blocks are: a de-DE browser showed "13:00" over "9:00 AM" (a probe)
      scale.append(element("span", clockTime(`${String(hour).padStart(2, "0")}:00`, place), { class: "board-hour",
        style: `left:${((hour * 60 - opens) / width) * 100}%` }));
    }
    hours.append(scale);
    board.replaceChildren(hours, ...rows.map((row) => {
      const line = element("div", undefined, { class: `board-row kind-${row.kind}` });
      line.append(element("span", row.resource.name, { class: "board-name" }));
      const lane = element("div", undefined, { class: "board-lane" });
      for (const block of row.blocks) {
        const from = Math.max(minutesOfDay(block.starts_at, place), opens);
        const to = Math.min(wallDay(block.ends_at, place) > day ? 24 * 60 : minutesOfDay(block.ends_at, place), closes);
        const label = `${timeOf(block.starts_at, place)}–${timeOf(block.ends_at, place)} ${block.label}`;
        lane.append(element("span", `${timeOf(block.starts_at, place)} ${block.label}`, {
          class: `block status-${block.status}`, "data-appointment": block.appointment_id, title: label,
          style: `left:${((from - opens) / width) * 100}%;width:${(Math.max(to - from, 5) / width) * 100}%`,
        }));
      }
      line.append(lane);
      return line;
    }));
  };
  onSubmit("board-form", show);
  await busy(form.querySelector("button[type=submit]"), () => show(Object.fromEntries(new FormData(form))));
}
