// A visitor's request status page, behind its secret link.
import { api, element } from "../core.js";
import { timeOf, when } from "../clinic-time.js";

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
    const request = await api(`public/requests/${token}`);
    let words = STATUS_WORDS[request.status];
    if (request.status === "requested") words += ` ${when(request.hold_expires_at)} (UTC).`;
    const facts = element("dl");
    facts.append(element("dt", "What"), element("dd", request.kind === "move" ? `Move of ${request.service}`
      : request.service), element("dt", "When"), element("dd", `${when(request.start)}–${timeOf(request.end)}`),
    element("dt", "Where"), element("dd", request.location));
    box.replaceChildren(element("p", words, { id: "status-words", "data-status": request.status }), facts,
      ...(request.decline_reason ? [element("p", `Reason: ${request.decline_reason}`)] : []));
  } catch (error) {
    box.replaceChildren(element("p", error.message, { class: "error" }));
  }
}

