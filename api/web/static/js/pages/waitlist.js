// The waitlist: who waits for which service within which days and daily window, what each was offered (a hold
// placed after a cancellation or by the nightly run), and adding or closing a request. Days and times are the
// serving location's wall clock, labelled.
import { action, api, element, fill, notice, onSubmit, table } from "../core.js";
import { addDays, today, when } from "../clinic-time.js";
import {
  PRIORITIES, birthDay, confirmHold, directory, emptyRow, every, fullName, liveHold, offerWords, patientLink,
  patientsNamed, waitDays, waitHours, wallZoneLabel,
} from "../front-desk.js";

const FIRST_WAIT_DAYS = 14; // a new request's default days: from tomorrow for two weeks

export async function open() {
  const names = await directory();
  const form = document.getElementById("add-form");
  const clinic = names.place();
  document.getElementById("wait-zone").textContent = `Days and times are ${wallZoneLabel(names)}.`;
  await fill(form.elements.service_id, "services?limit=200");
  form.elements.priority.replaceChildren(...Object.entries(PRIORITIES).reverse().map(([value, label]) =>
    element("option", label, { value, selected: value === "3" })));
  form.elements.earliest_day.value = addDays(today(clinic), 1);
  form.elements.latest_day.value = addDays(today(clinic), FIRST_WAIT_DAYS);
  keepInOrder(form);
  setUpPatientChoice(form, clinic);
  const chosen = new URLSearchParams(location.search).get("patient_id");
  if (chosen) offerPatients(form, [await api(`patients/${encodeURIComponent(chosen)}`)], clinic);
  const refresh = () => showRequests(names, clinic);
  onSubmit(form, async (values) => {
    const { patient_id, service_id, priority, earliest_day, latest_day, earliest_time, latest_time } = values;
    const added = await api("waitlist", { method: "POST", body: { patient_id: Number(patient_id),
      service_id: Number(service_id), priority: Number(priority), earliest_day, latest_day, earliest_time,
      latest_time } });
    notice(`${form.elements.patient_id.selectedOptions[0].textContent} waits for ${names.service(added.service_id)}, `
      + `${waitDays(added, clinic)}, ${waitHours(added, clinic)}.`, "ok");
    await refresh();
  });
  await refresh();
}

function keepInOrder(form) {
  // The browser refuses a last day before the first, or an end before the start, in its own words.
  const { earliest_day, latest_day, earliest_time, latest_time } = form.elements;
  const follow = () => {
    latest_day.min = earliest_day.value;
    latest_time.min = earliest_time.value;
  };
  earliest_day.addEventListener("change", follow);
  earliest_time.addEventListener("change", follow);
  follow();
}

function offerPatients(form, patients, clinic) {
  form.elements.patient_id.replaceChildren(...patients.map((patient) => element("option",
    `${fullName(patient)} (born ${birthDay(patient.birth_date, clinic)})`, { value: patient.id })));
}

function setUpPatientChoice(form, clinic) {
  const find = async () => {
    const name = form.elements.find.value.trim();
    if (!name) throw new Error("Type the patient's name, then Find.");
    const page = await api(`patients?${new URLSearchParams({ name, limit: 20 })}`);
    if (!page.items.length) throw new Error(`No patient is called “${name}”: check the spelling, or register them `
      + "on the Patients page.");
    offerPatients(form, page.items, clinic);
    form.elements.patient_id.focus();
  };
  const button = document.getElementById("find-patient");
  const run = () => find().catch((error) => notice(error.message));
  button.addEventListener("click", run);
  form.elements.find.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault(); // Enter in the name box finds the patient; it does not add the request yet
    run();
  });
}

async function showRequests(names, clinic) {
  const requests = await every("waitlist?status=waiting&status=offered");
  const patients = await patientsNamed(requests.map((request) => request.patient_id));
  const box = document.getElementById("waiting-requests");
  if (!requests.length) {
    box.replaceChildren(emptyRow("Nobody is waiting. When a patient wants a time you cannot give yet, add them "
      + "below: a cancellation or the nightly run will offer them one."));
    return;
  }
  const refresh = () => showRequests(names, clinic);
  const rows = requests.map((request) => {
    const patient = patients[request.patient_id];
    const who = patient ? fullName(patient) : `patient #${request.patient_id}`;
    const actions = element("span", undefined, { class: "actions" });
    if (request.offer && liveHold(request.offer)) {
      actions.append(confirmHold(request.offer, async () => {
        notice(`Booked ${who} for ${names.service(request.service_id)}, `
          + `${when(request.offer.start, names.place(request.offer.location_id))}.`, "ok");
        await refresh();
      }, { label: "Book offer", who }));
    }
    actions.append(action("Close", async () => {
      const releasing = request.offer && liveHold(request.offer); // the server releases it with the request
      await api(`waitlist/${request.id}`, { method: "DELETE" });
      notice(`${who} no longer waits for ${names.service(request.service_id)}`
        + `${releasing ? "; the time held for them is free again" : ""}.`, "ok");
      await refresh();
    }, { "aria-label": `Close the request of ${who}` }));
    return [patientLink(patient, request.patient_id), names.service(request.service_id), waitDays(request, clinic),
      waitHours(request, clinic), PRIORITIES[request.priority], when(request.created_at, clinic),
      offerWords(request, names), actions];
  });
  box.replaceChildren(element("p", `${requests.length} waiting, highest priority and longest waiting first.`,
    { class: "muted" }), table(["Patient", "Service", "Days", "Daily window", "Priority", "Waiting since", "Offer",
    "Actions"], rows, { class: "records", id: "waiting" }));
}
