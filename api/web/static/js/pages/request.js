// The public request page (no sign-in): pick a service, a day's free time, then leave contact details.
// Times are the clinic location's, in its zone and locale, whatever the visitor's device says.
import { action, api, element, notice, onSubmit, reveal } from "../core.js";
import { placeOf, when, zoneLabel } from "../clinic-time.js";
import { freeTimes } from "../free-times.js";

const KIND_LABELS = { telehealth: "Request telehealth", in_office: "Request in-office visit" };

export async function open() {
  const [services, locations] = await Promise.all([api("public/services"), api("public/locations")]);
  const places = Object.fromEntries(locations.map((location) => [location.id, placeOf(location)]));
  const link = new URLSearchParams(location.search);
  let chosen = null;
  document.getElementById("kinds").replaceChildren(...services.map((service) => action(
    `${KIND_LABELS[service.kind]}: ${service.name} (${service.minutes} min)`, () => showTimes(service))));

  async function showTimes(service, wanted) {
    const slots = await api(`public/slots?kind=${service.kind}`);
    chosen = null;
    document.getElementById("details-card").hidden = true;
    document.getElementById("times-title").textContent = `Free times for ${service.name}`;
    const times = document.getElementById("times");
    times.replaceChildren(...(slots.length ? freeTimes(slots, places, (slot) => choose(service, slot))
      : [element("p", "No free time in the coming two weeks; please call the clinic.")]));
    const linked = wanted && slots.find((slot) => slot.start === wanted.start
      && String(slot.location_id) === wanted.location_id);
    if (linked) {
      times.querySelector(`button.time[data-start="${linked.start}"]`)?.setAttribute("aria-pressed", "true");
      choose(service, linked);
      return;
    }
    if (wanted) notice("That time has just been taken; please choose another.", "info");
    reveal(document.getElementById("times-card"));
  }

  function choose(service, slot) {
    chosen = { service, slot };
    const place = places[slot.location_id];
    document.getElementById("chosen").textContent = `${service.name} on ${when(slot.start, place)} `
      + `(${zoneLabel(place)}) at ${slot.location_name}`;
    reveal(document.getElementById("details-card"));
  }

  onSubmit("request-form", async (values) => {
    if (!chosen) throw new Error("Choose a time first.");
    const body = { kind: chosen.service.kind, location_id: chosen.slot.location_id, start: chosen.slot.start,
      given_name: values.given_name, family_name: values.family_name, birth_date: values.birth_date,
      phone: values.phone || null, email: values.email || null, reason: values.reason };
    const created = await api("public/requests", { method: "POST", body });
    location.assign(new URL(created.status_url).pathname);
  });

  const wantedKind = services.find((s) => s.kind === link.get("kind"));
  if (wantedKind) await showTimes(wantedKind, link.get("start") && { start: link.get("start"),
    location_id: link.get("location_id") });
}
