// Patients' messages as the front desk sees them (the patient page, the schedule's side panel, the Today page): what
// was written, by which channel, to which address (masked by the API), and what became of it; Retry and Dismiss for
// those that went wrong; the patient's channel choices. A message's words are fetched only when the desk opens them.
// Times are the message's location's, labelled with its zone.
import { action, api, element, notice, table } from "./core.js";
import { when, zoneLabel } from "./clinic-time.js";
import { confirmed } from "./admin/confirm.js";
import { fullName, timesHeading, zoned } from "./front-desk.js";

const KINDS = { booked: "Booking confirmed", rescheduled: "Session moved", cancelled: "Session cancelled",
  plan_confirmed: "Treatment plan confirmed", request_received: "Request received",
  request_confirmed: "Request confirmed", request_declined: "Request declined", waitlist_offer: "Waitlist offer",
  nightly_move: "Moved by the nightly run", reminder: "Reminder" };
const CHANNELS = { email: "E-mail", sms: "Text" };
const PROBLEMS = new Set(["failed", "uncertain"]);
const RECENT = 50; // the newest messages shown; older ones are rarely asked about

const tries = (n) => `${n} attempt${n === 1 ? "" : "s"}`;

function stateOf(message, place) {
  // What became of it, in words, with the reason when something went wrong.
  const words = {
    sent: () => `sent ${when(message.sent_at, place)}`,
    pending: () => (message.next_attempt_at ? `waiting, goes ${when(message.next_attempt_at, place)}` : "waiting"),
    sending: () => "being sent",
    failed: () => (message.attempts ? `given up after ${tries(message.attempts)}` : ""),
    uncertain: () => "uncertain: it may or may not have reached the patient",
  }[message.status]();
  // A message never tried (its channel was turned off) is told by its reason alone: "not sent: the patient ...".
  const reason = message.last_error && message.status !== "sent" ? message.last_error : "";
  const settled = message.dismissed_at && message.dismissed_by ? ` (dismissed by ${message.dismissed_by})` : "";
  return `${[words, reason].filter(Boolean).join(": ") || "not sent"}${settled}`;
}

function words(message) {
  // The message's text, fetched when the desk opens it (lists never carry it).
  const box = element("details", undefined, { class: "message-words" });
  const what = `${KINDS[message.kind]} by ${CHANNELS[message.channel].toLowerCase()}`;
  box.append(element("summary", "Read", { "aria-label": `Read: ${what}` }));
  box.addEventListener("toggle", async () => {
    if (!box.open || box.dataset.loaded) return;
    box.dataset.loaded = "true";
    try {
      const full = await api(`messages/${message.id}`);
      box.append(element("p", full.body_text,
        { style: "white-space: pre-wrap; overflow-wrap: anywhere; max-width: 28rem" }));
    } catch (error) {
      box.append(element("p", error.message, { class: "error" }));
    }
  });
  return box;
}

function decisions(message, who, done) {
  // Retry (an uncertain text only once the patient says it did not arrive) and Dismiss, for the ones that went wrong.
  const bar = element("span", undefined, { class: "actions" });
  bar.append(words(message));
  if (!PROBLEMS.has(message.status)) return bar;
  bar.append(action("Retry", async () => {
    const body = {};
    if (message.status === "uncertain") {
      const sure = await confirmed(`Did ${who} tell you this text did not arrive? It may have; a second one cannot be `
        + "taken back.", { confirmLabel: "It did not arrive: send again", keepLabel: "Back" });
      if (!sure) return;
      body.not_received = true;
    }
    await api(`messages/${message.id}/retry`, { method: "POST", body });
    notice(`The ${KINDS[message.kind].toLowerCase()} message to ${who} goes again.`, "ok");
    await done();
  }, { "aria-label": `Retry: ${KINDS[message.kind]} to ${who}` }));
  if (!message.dismissed_at) {
    bar.append(action("Dismiss", async () => {
      await api(`messages/${message.id}/dismiss`, { method: "POST" });
      notice(`Dismissed the ${KINDS[message.kind].toLowerCase()} message to ${who}.`, "ok");
      await done();
    }, { "aria-label": `Dismiss: ${KINDS[message.kind]} to ${who}` }));
  }
  return bar;
}

export async function messagesAt(path) {
  return (await api(`${path}${path.includes("?") ? "&" : "?"}limit=${RECENT}`)).items;
}

export function messageTable(messages, placeOf, { done, withPatient = false, attributes = {} }) {
  // One row per message, newest first; `placeOf(location_id)` gives the zone its times are shown in.
  const places = messages.map((message) => placeOf(message.location_id));
  const headings = [timesHeading("Written", places), ...(withPatient ? ["Patient"] : []), "What", "By", "To",
    "Subject", "State", "Actions"];
  const rows = messages.map((message, n) => {
    const who = message.patient;
    const patient = element("a", who, { href: `/app/patients?id=${message.patient_id}` });
    return [zoned(when(message.created_at, places[n]), message.created_at, places[n], places),
      ...(withPatient ? [patient] : []), KINDS[message.kind] || message.kind, CHANNELS[message.channel],
      message.recipient, message.subject || "—", stateOf(message, places[n]), decisions(message, who, done)];
  });
  const grid = table(headings, rows, { class: "records", ...attributes });
  messages.forEach((message, n) => {
    Object.assign(grid.tBodies[0].rows[n].dataset, { message: message.id, status: message.status });
  });
  return grid;
}

export function messagesCard(parent, { id, title, intro }) {
  // A card of its own on a page whose template predates messages: made once, then found again; its content box.
  let card = document.getElementById(`${id}-card`);
  if (!card) {
    card = element("section", undefined, { class: "card", id: `${id}-card`, "aria-labelledby": `${id}-title` });
    card.append(element("h2", title, { id: `${id}-title` }), ...(intro ? [element("p", intro, { class: "muted" })]
      : []), element("div", undefined, { id, "aria-live": "polite" }));
    parent.append(card);
  }
  return document.getElementById(id);
}

export function sessionMessages(appointmentId, place) {
  // The side panel's short list: what the patient was told about this session.
  const part = element("section", undefined, { "aria-label": "Messages to the patient" });
  const list = element("p", "Loading…", { class: "muted" });
  part.append(element("h3", `Messages (${zoneLabel(place)})`), list);
  messagesAt(`appointments/${appointmentId}/messages`).then((messages) => {
    if (!messages.length) {
      list.textContent = "None written about this session.";
      return;
    }
    const items = element("ul", undefined, { class: "compact", id: "session-messages" });
    items.append(...messages.map((message) => element("li", `${KINDS[message.kind]} · ${CHANNELS[message.channel]} `
      + `${message.recipient} · ${stateOf(message, place)}`)));
    list.replaceWith(items);
  }).catch((error) => { list.textContent = error.message; });
  return part;
}

export function channelChoices(patient, saved) {
  // The patient's say over how the clinic writes to them; the desk records what the patient asks.
  const box = element("fieldset", undefined, { class: "choices-box", id: "channel-choices" });
  box.append(element("legend", "Messages the patient agrees to"));
  for (const [flag, label, address] of [["email_messages", "E-mail", patient.email],
    ["sms_messages", "Text messages", patient.phone]]) {
    const tick = element("input", undefined, { type: "checkbox", name: flag, checked: patient[flag] });
    const line = element("label", undefined, { class: "check" });
    line.append(tick, ` ${label}`, element("span", address ? "" : " (nothing on record to send to)",
      { class: "muted" }));
    tick.addEventListener("change", async () => {
      tick.disabled = true;
      try {
        const changed = await api(`patients/${patient.id}`, { method: "PATCH", body: { [flag]: tick.checked } });
        notice(`${fullName(changed)} ${tick.checked ? "gets" : "gets no more"} ${label.toLowerCase()} from the `
          + "clinic.", "ok");
        saved(changed);
      } catch (error) {
        tick.checked = !tick.checked;
        notice(error.message);
      } finally {
        tick.disabled = false;
      }
    });
    box.append(line);
  }
  return box;
}
