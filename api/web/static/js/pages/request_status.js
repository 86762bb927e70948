// A visitor's request status page, behind its secret link; times in the clinic location's zone, labelled.
import { api, element } from "../core.js";
import { placeOf, span, when, zoneLabel } from "../clinic-time.js";

const STATUS_WORDS = {
  requested: "The clinic has your request and holds the time for you until",
  confirmed: "Confirmed: you are booked.",
  declined: "The clinic could not accept this request.",
  expired: "This request expired before the clinic answered; the time is free again. Please ask for another.",
};

export async function open() {
  const token = location.pathname.split("/").pop();
  const box = document.getElementById("request-status");
  try {
    const [request, locations] = await Promise.all([api(`public/requests/${token}`), api("public/locations")]);
    const place = placeOf(locations.find((where) => where.id === request.location_id));
    let words = STATUS_WORDS[request.status];
    if (request.status === "requested") words += ` ${when(request.hold_expires_at, place)} (${zoneLabel(place)}).`;
    const facts = element("dl");
    facts.append(element("dt", "What"), element("dd", request.kind === "move" ? `Move of ${request.service}`
      : request.service), element("dt", "When"),
    element("dd", `${span(request.start, request.end, place)} (${zoneLabel(place)})`, { id: "status-when" }),
    element("dt", "Where"), element("dd", request.location));
    box.replaceChildren(element("p", words, { id: "status-words", "data-status": request.status }), facts,
      ...(request.decline_reason ? [element("p", `Reason: ${request.decline_reason}`)] : []));
  } catch (error) {
    box.replaceChildren(element("p", error.message, { class: "error" }));
  }
}
