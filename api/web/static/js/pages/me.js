// A patient's own page behind their secret link: upcoming sessions, confirming, cancelling or asking to move one, and
// times offered from the waitlist to accept (a message's accept link opens the page with ?accept=<appointment id>).
// Times are the clinic location's, in its zone and locale, whatever the patient's device says.
import { action, api, element, notice, reveal } from "../core.js";
import { placeOf, when, zoneLabel } from "../clinic-time.js";
import { freeTimes } from "../free-times.js";

export async function open() {
  const token = location.pathname.split("/").pop();
  const list = document.getElementById("sessions");
  let places;
  try {
    places = Object.fromEntries((await api("public/locations")).map((where) => [where.id, placeOf(where)]));
    await Promise.all([offers(), show()]);
  } catch (error) {
    list.replaceChildren(element("li", error.message, { class: "error" }));
  }

  async function show() {
    const sessions = await api(`public/patients/${token}/sessions`);
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
      item.append(session.confirmed_at ? element("span", "confirmed", { class: "badge" })
        : action("Confirm", () => confirmSession(session)), " ");
      if (session.move_requested) item.append(element("span", "move requested", { class: "muted" }));
      else item.append(action("Ask to move", () => moveOptions(session)));
      // The clinic decides until when a session may be cancelled here; the server refuses later ones in words too.
      item.append(" ", new Date(session.cancel_until) > new Date() ? action("Cancel", () => askCancel(item, session))
        : element("span", "To cancel, please call the clinic.", { class: "muted" }));
      return item;
    }));
  }

  async function offers() {
    // The offer the accept link names, whatever became of it, and any other still open to accept.
    const linked = new URLSearchParams(location.search).get("accept");
    const open = await api(`public/patients/${token}/offers`);
    let shown = open;
    if (linked && !open.some((offer) => String(offer.appointment_id) === linked)) {
      shown = [await api(`public/patients/${token}/offers/${encodeURIComponent(linked)}`)
        .catch((error) => ({ error: error.message })), ...open];
    }
    let card = document.getElementById("offers");
    if (!shown.length) {
      card?.remove();
      return;
    }
    if (!card) {
      card = element("section", undefined, { class: "card", id: "offers", "aria-labelledby": "offers-title" });
      card.append(element("h2", "A time has opened for you", { id: "offers-title" }), element("ul", undefined,
        { class: "choices" }));
      list.parentElement.querySelector("h1").after(card);
    }
    card.querySelector("ul").replaceChildren(...shown.map(offerItem));
  }

  function offerItem(offer) {
    if (offer.error) return element("li", offer.error, { class: "error" });
    const place = places[offer.location_id];
    const item = element("li", `${when(offer.start, place)} (${zoneLabel(place)}) · ${offer.service} · `
      + `${offer.location} `, { "data-id": offer.appointment_id });
    if (offer.status === "booked") item.append(element("span", "booked", { class: "badge" }));
    else if (offer.status === "gone") {
      item.append(element("span", "That time is no longer available; we will tell you when another opens.",
        { class: "muted" }));
    } else {
      item.append(element("span", `held for you until ${when(offer.hold_expires_at, place)} `, { class: "muted" }),
        action("Accept", async () => {
          try {
            await api(`public/patients/${token}/offers/${offer.appointment_id}/accept`, { method: "POST" });
            notice(`Booked: ${offer.service} on ${when(offer.start, place)}. A confirmation is on its way.`, "ok");
          } finally { // taken or lapsed meanwhile: the server's answer is in the notice, the list shows it gone
            await Promise.all([offers(), show()]);
          }
        }));
    }
    return item;
  }

  async function confirmSession(session) {
    await api(`public/patients/${token}/sessions/${session.appointment_id}/confirm`, { method: "POST" });
    notice(`Thank you: ${session.service} of ${when(session.start, places[session.location_id])} is confirmed.`, "ok");
    await show();
  }

  function askCancel(item, session) {
    // A second, explicit step: a cancelled time goes to other patients at once and cannot be taken back here.
    item.querySelector(".ask-cancel")?.remove();
    const question = element("p", `Cancel ${session.service} of ${when(session.start, places[session.location_id])}? `,
      { class: "ask-cancel row", role: "group" });
    const yes = action("Yes, cancel it", async () => {
      await api(`public/patients/${token}/sessions/${session.appointment_id}/cancel`, { method: "POST" });
      notice("Cancelled. You will receive a confirmation of the cancellation.", "ok");
      await show();
    });
    const keep = element("button", "Keep it", { type: "button" });
    keep.addEventListener("click", () => question.remove());
    question.append(yes, keep);
    item.append(question);
    yes.focus();
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
