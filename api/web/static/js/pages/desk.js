// Booking at the desk: find the patient, search real slots across clinicians, rooms and devices, hold or book,
// move or cancel what the patient has, and propose a whole treatment plan.
import { action, api, ask, element, fill, notice, onSubmit, reveal } from "../core.js";
import { addDays, dayStart, placeOf, span, timeOf, today, when, zoneLabel } from "../clinic-time.js";
import { moveSession } from "../front-desk.js";

export async function open() {
  const state = { patient: null, rescheduling: null };
  const search = document.getElementById("slot-search");
  const services = await fill(search.elements.service_id, "services?limit=200");
  const locations = await fill(search.elements.location_id, "locations?limit=200");
  await fill(document.querySelector("#plan-form [name=template_id]"), "plan-templates?limit=200");
  const serviceName = Object.fromEntries(services.map((s) => [s.id, s.name]));
  const places = Object.fromEntries(locations.map((l) => [l.id, placeOf(l)]));
  const place = () => places[search.elements.location_id.value] || placeOf(locations[0]);
  const showZone = () => {
    document.getElementById("slot-zone").textContent = `Dates and times are ${zoneLabel(place())}.`;
  };
  search.elements.location_id.addEventListener("change", showZone);
  showZone();
  search.elements.day.value = addDays(today(place()), 1);
  document.querySelector("#plan-form [name=earliest_start]").value = addDays(today(place()), 1);
  openDeepLink();
  const linkedPatient = new URLSearchParams(location.search).get("patient_id");
  if (linkedPatient) await choosePatient(await api(`patients/${encodeURIComponent(linkedPatient)}`));

  function openDeepLink() {
    // A booking deep link (from the FHIR bulk publication, or the schedule screen) names a service and a start.
    const link = new URLSearchParams(location.search);
    if (!link.get("service_id") || !link.get("start")) return;
    search.elements.service_id.value = link.get("service_id");
    if (link.get("location_id")) search.elements.location_id.value = link.get("location_id");
    showZone();
    search.elements.day.value = link.get("start").slice(0, 10);
    notice(`Booking ${serviceName[link.get("service_id")] || "a service"} on ${when(link.get("start"))}: `
      + "choose the patient, then Find slots.", "info");
  }

  function stopMoving() {
    state.rescheduling = null;
    document.getElementById("rescheduling").hidden = true;
    document.getElementById("slots").replaceChildren();
  }
  document.getElementById("stop-moving").addEventListener("click", stopMoving);

  function choosePatient(patient) {
    // A new patient ends any move begun for the previous one: "Move here" must never move someone else's session.
    stopMoving();
    state.patient = patient;
    document.getElementById("patient-chosen").textContent =
      `Patient: ${patient.given_name} ${patient.family_name} (born ${patient.birth_date})`;
    return showAppointments();
  }

  onSubmit("patient-search", async ({ name }) => {
    const page = await api(`patients?${new URLSearchParams({ name, limit: 20 })}`);
    const list = document.getElementById("patients");
    list.replaceChildren(...page.items.map((patient) => {
      const item = element("li", `${patient.given_name} ${patient.family_name}, born ${patient.birth_date} `);
      item.append(action("Choose", () => choosePatient(patient)));
      return item;
    }));
    if (!page.items.length) notice("No patient has that name; check the spelling or register the patient first.");
  });

  function needPatient() {
    if (!state.patient) throw new Error("Choose a patient first.");
    return state.patient;
  }

  onSubmit("slot-search", async ({ service_id, location_id, day }) => {
    const patient = needPatient();
    const where = places[location_id];
    const query = { service_id, location_id, patient_id: patient.id, start: dayStart(day, where),
      end: dayStart(addDays(day, 7), where), limit: 12 };
    const found = await api(`availability?${new URLSearchParams(query)}`);
    const list = document.getElementById("slots");
    if (!found.slots.length) {
      list.replaceChildren();
      notice(`No free slot that week: ${found.reasons.map((r) => r.message).join("; ")}`, "info");
      return;
    }
    list.replaceChildren(...found.slots.map((slot) => slotRow(slot, Number(service_id), where)));
  });

  function slotRow(slot, serviceId, where) {
    const who = [slot.clinician.name, slot.room && slot.room.name, ...slot.devices.map((d) => d.name)]
      .filter(Boolean).join(" · ");
    const item = element("li", `${span(slot.start, slot.end, where)} · ${who} `, { class: "slot" });
    const choice = { service_id: serviceId, patient_id: state.patient.id, start: slot.start,
      clinician_id: slot.clinician.id, room_id: slot.room ? slot.room.id : null,
      device_ids: slot.devices.map((d) => d.id) };
    const moving = state.rescheduling;
    if (moving) {
      item.append(action("Move here", async () => {
        const { start, clinician_id, room_id, device_ids } = choice;
        await moveSession(moving.id, { start, clinician_id, room_id, device_ids }, moving.version);
        notice(`Moved to ${when(slot.start, where)}.`, "ok");
        stopMoving();
        await showAppointments();
      }));
      return item;
    }
    item.append(action("Hold", searchedAgainIfTaken(async () => {
      const hold = await api("holds", { method: "POST", body: choice });
      notice(`Held until ${timeOf(hold.hold_expires_at, where)} (${zoneLabel(where)}); book it from the list below.`,
        "ok");
      await showAppointments();
    })));
    item.append(action("Book", searchedAgainIfTaken(async () => {
      await api("appointments", { method: "POST", body: choice });
      notice(`Booked ${serviceName[serviceId]} on ${when(slot.start, where)}.`, "ok");
      document.getElementById("slots").replaceChildren();
      await showAppointments();
    })));
    return item;
  }

  function searchedAgainIfTaken(work) {
    // A time taken meanwhile (409) stayed on the list, and so did those overlapping it (found by a probe): the
    // list is searched again, and the refusal says why.
    return async () => {
      try {
        await work();
      } catch (error) {
        if (error.status === 409) document.getElementById("slot-search").requestSubmit();
        throw error;
      }
    };
  }

  async function showAppointments() {
    const patient = needPatient();
    const query = new URLSearchParams({ patient_id: patient.id, start: new Date().toISOString(), limit: 50 });
    query.append("status", "booked");
    query.append("status", "pending");
    const page = await api(`appointments?${query}`);
    const list = document.getElementById("appointments");
    if (!page.items.length) list.replaceChildren(element("li", "Nothing booked or held.", { class: "muted" }));
    else list.replaceChildren(...page.items.map(appointmentRow));
  }

  function appointmentRow(appointment) {
    const held = appointment.status === "pending";
    const where = places[appointment.location_id];
    const item = element("li", `${when(appointment.start, where)} · ${serviceName[appointment.service_id]} · `
      + `${held ? "held" : "booked"} `, { class: "appointment", "data-id": appointment.id });
    if (held) {
      item.append(action("Book", async () => {
        await api("appointments", { method: "POST", body: { hold_id: appointment.id },
          version: appointment.version });
        notice("Booked.", "ok");
        await showAppointments();
      }));
      item.append(action("Release", async () => {
        await api(`holds/${appointment.id}`, { method: "DELETE", version: appointment.version });
        await showAppointments();
      }));
      return item;
    }
    item.append(action("Cancel", async () => {
      const reason = await ask("Why is it cancelled? (kept in the audit log)", { answer: "patient asked",
        confirmLabel: "Cancel the session" });
      if (!reason) return;
      await api(`appointments/${appointment.id}/cancel`, { method: "POST", body: { reason },
        version: appointment.version });
      notice(`Cancelled the ${serviceName[appointment.service_id]} of ${when(appointment.start, where)}.`, "ok");
      await showAppointments();
    }));
    item.append(action("Reschedule", async () => {
      state.rescheduling = appointment;
      document.getElementById("rescheduling-text").textContent =
        `Moving ${serviceName[appointment.service_id]} of ${when(appointment.start, where)}: find slots and choose `
        + "\"Move here\".";
      search.elements.service_id.value = appointment.service_id;
      search.elements.location_id.value = appointment.location_id;
      showZone();
      document.getElementById("slots").replaceChildren();
      reveal(document.getElementById("rescheduling"));
    }));
    return item;
  }

  onSubmit("plan-form", async ({ template_id, earliest_start, weeks }) => {
    const patient = needPatient();
    const plan = await api("plans", { method: "POST", body: { patient_id: patient.id,
      location_id: Number(search.elements.location_id.value), template_id: Number(template_id), earliest_start,
      latest_end: addDays(earliest_start, 7 * Number(weeks)) } });
    const proposal = await api(`plans/${plan.id}/proposal`, { method: "POST" });
    showProposal(proposal);
  });

  function showProposal(proposal) {
    const box = document.getElementById("proposal");
    const where = places[proposal.plan.location_id] || place();
    const rows = proposal.plan.sessions.map((s) => element("li", s.appointment
      ? `${serviceName[s.service_id]} ${s.sequence}: ${when(s.appointment.start, where)}`
      : `${serviceName[s.service_id]} ${s.sequence}: not placed (${s.unplaced_reason})`));
    const summary = element("p", `${proposal.placed} sessions held, ${proposal.unplaced} not placed.`);
    const confirm = action("Confirm plan", async () => {
      await api(`plans/${proposal.plan.id}/confirm`, { method: "POST" });
      notice("The plan is booked.", "ok");
      box.replaceChildren(element("p", "Plan confirmed: every held session is booked."));
      await showAppointments();
    });
    box.replaceChildren(summary, element("ul", undefined, { class: "choices" }), confirm);
    box.querySelector("ul").append(...rows);
  }
}
