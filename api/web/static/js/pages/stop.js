// The page behind the unsubscribe link written in every e-mail (/me/<secret>/stop?channel=email or sms). Opening it
// changes nothing (mail scanners open every link in a message); only its button does, and Undo takes it back.
import { action, api, element } from "../core.js";

const MEDIA = { email: { many: "e-mails", one: "e-mail" }, sms: { many: "text messages", one: "text message" } };

export async function open() {
  const token = location.pathname.split("/")[2];
  const channel = new URLSearchParams(location.search).get("channel") || "email";
  const box = document.getElementById("stop");
  document.getElementById("sessions-link").href = `/me/${token}`;
  const medium = MEDIA[channel];
  if (!medium) {
    box.replaceChildren(element("p", "This link is incomplete: open the one in the clinic's message again.",
      { class: "error" }));
    return;
  }
  const change = (verb) => api(`public/patients/${token}/${verb}?channel=${channel}`, { method: "POST" });
  try {
    show(await api(`public/patients/${token}/choices`));
  } catch (error) {
    box.replaceChildren(element("p", error.message, { class: "error" }));
  }

  function show(choices) {
    const from = choices.clinic;
    document.getElementById("stop-title").textContent = `${medium.many[0].toUpperCase()}${medium.many.slice(1)} `
      + `from ${from}`;
    if (choices[`${channel}_messages`]) {
      box.replaceChildren(element("p", `Stop ${medium.many} from ${from}? You will not be told of bookings, moves `
        + `or reminders by ${medium.one} any more; your sessions stay as they are.`),
      action(`Stop ${medium.many}`, async () => show(await change("stop"))));
      return;
    }
    const undo = action("Undo", async () => show(await change("resume")));
    const again = element("p", "Changed your mind? ");
    again.append(undo);
    box.replaceChildren(element("p", `You will get no more ${medium.many} from ${from}.`, { id: "stopped" }), again);
  }
}
