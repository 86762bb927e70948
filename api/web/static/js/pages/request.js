// The public request page (no sign-in): pick a time, leave contact details.
import { action, api, element, notice, onSubmit } from "../core.js";
import { timeOf, when } from "../clinic-time.js";

const KIND_LABELS = { telehealth: "Request telehealth", in_office: "Request in-office visit" };

export async function open() {
  const services = await api("public/services");
  const link = new URLSearchParams(location.search);
  let chosen = null;
  const kinds = document.getElementById("kinds");
  kinds.replaceChildren(...services.map((service) => action(`${KIND_LABELS[service.kind]}: ${service.name} `
    + `(${service.minutes} min)`, () => showTimes(service))));

  async function showTimes(service, wanted) {
    const slots = await api(`public/slots?kind=${service.kind}`);
    document.getElementById("times-card").hidden = false;
    const list = document.getElementById("times");
    if (!slots.length) {
      list.replaceChildren(element("li", "No free time in the coming two weeks; please call the clinic."));
      return;
    }
    list.replaceChildren(...slots.map((slot) => {
      const item = element("li", `${when(slot.start)}–${timeOf(slot.end)} · ${slot.location_name} `,
        { class: "slot" });
      item.append(action("Choose", () => choose(service, slot)));
      return item;
    }));
    const linked = wanted && slots.find((slot) => slot.start === wanted.start
      && String(slot.location_id) === wanted.location_id);
    if (linked) choose(service, linked);
    else if (wanted) notice("That time has just been taken; please choose another.", "info");
  }

  function choose(service, slot) {
    chosen = { service, slot };
    document.getElementById("details-card").hidden = false;
    document.getElementById("chosen").textContent =
      `${service.name} on ${when(slot.start)} at ${slot.location_name}`;
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

