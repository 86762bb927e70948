// Free times as the public pages offer them: a heading per day, then that day's times as buttons (per location
// when there are several), each in its location's zone and locale: a visitor in Tokyo booking a New York clinic
// reads New York's clock, labelled.
import { action, element } from "./core.js";
import { dateOf, dayLabel, timeOf, wallDay, zoneLabel } from "./clinic-time.js";

export function freeTimes(slots, places, pick, { verb = "Choose" } = {}) {
  // The nodes to show: which clock the times are on, then one section per day; pick(slot) runs on a button.
  const zones = [...new Set(slots.map((slot) => zoneLabel(places[slot.location_id])))];
  const manyPlaces = new Set(slots.map((slot) => slot.location_id)).size > 1;
  const days = new Map();
  for (const slot of slots) {
    const place = places[slot.location_id];
    const day = wallDay(slot.start, place);
    if (!days.has(day)) days.set(day, { place, byPlace: new Map() });
    const byPlace = days.get(day).byPlace;
    if (!byPlace.has(slot.location_name)) byPlace.set(slot.location_name, []);
    byPlace.get(slot.location_name).push(timeButton(slot, place));
  }

  function timeButton(slot, place) {
    const time = timeOf(slot.start, place);
    const button = action(time, async () => {
      for (const other of document.querySelectorAll("button.time[aria-pressed=true]")) {
        other.setAttribute("aria-pressed", "false");
      }
      button.setAttribute("aria-pressed", "true");
      await pick(slot);
    }, { class: "time", "aria-pressed": "false", "data-start": slot.start,
      "aria-label": `${verb} ${dateOf(slot.start, place)} ${time} at ${slot.location_name}` });
    const item = element("li");
    item.append(button);
    return item;
  }

  const sections = [...days].map(([day, { place, byPlace }]) => {
    const section = element("section", undefined, { class: "day", "data-day": day });
    section.append(element("h3", dayLabel(day, place)));
    for (const [name, buttons] of byPlace) {
      if (manyPlaces) section.append(element("p", name, { class: "muted place" }));
      const list = element("ul", undefined, { class: "times" });
      list.append(...buttons);
      section.append(list);
    }
    return section;
  });
  return [element("p", `Times are ${zones.join(" or ")}.`, { class: "muted zone-note" }), ...sections];
}
