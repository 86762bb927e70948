// A yes/no question as an accessible modal <dialog>, built like core.js's ask() (which wants typed text): used
// before removing a record. Never window.confirm, which some browsers suppress and tests cannot read.
import { element } from "../core.js";

export function confirmed(question, { confirmLabel = "Remove", keepLabel = "Keep it" } = {}) {
  return new Promise((resolve) => {
    const dialog = element("dialog", undefined, { class: "ask", "aria-labelledby": "confirm-question" });
    const form = element("form", undefined, { method: "dialog" });
    const buttons = element("p", undefined, { class: "row" });
    const keep = element("button", keepLabel, { type: "button", class: "secondary" });
    buttons.append(element("button", confirmLabel, { type: "submit", class: "danger" }), keep);
    form.append(element("p", question, { id: "confirm-question" }), buttons);
    dialog.append(form);
    document.body.append(dialog);
    const finish = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    keep.addEventListener("click", () => finish(false));
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); finish(false); });
    form.addEventListener("submit", (event) => { event.preventDefault(); finish(true); });
    dialog.showModal();
    keep.focus(); // the safe answer is the one Enter gives
  });
}
