// The administrators' screens: the clinic's catalog (locations, clinicians, device types and units, rooms,
// services, plan templates) and its staff users, one tab per collection, each served by the same editor.
import { element, notice } from "../core.js";
import { catalogStore } from "../admin/store.js";
import { editor } from "../admin/editor.js";
import { KINDS } from "../admin/kinds.js";

function refuse(me) {
  // The menu hides this page from other roles, but a bookmark or a typed address still arrives here.
  const words = `The admin screens are for administrators; you are signed in as ${me.username} `
    + `(${me.role.replace("_", " ")}). Ask an administrator to change the catalog or your role.`;
  const box = document.getElementById("admin-refused");
  box.textContent = words;
  box.hidden = false;
  notice(words, "info");
}

function tabs(editors) {
  // A tab per collection (WAI-ARIA tabs: arrow keys move between them); the address keeps the open one (#rooms).
  const list = document.getElementById("admin-tabs");
  const buttons = editors.map(({ kind }) => element("button", kind.title, { type: "button", role: "tab",
    id: `tab-${kind.path}`, "aria-controls": `panel-${kind.path}`, "aria-selected": "false", tabindex: "-1" }));
  const choose = async (index, focus) => {
    buttons.forEach((button, other) => {
      button.setAttribute("aria-selected", String(other === index));
      button.tabIndex = other === index ? 0 : -1;
      editors[other].panel.hidden = other !== index;
    });
    if (focus) buttons[index].focus();
    history.replaceState(null, "", `#${editors[index].kind.path}`);
    await editors[index].reload();
  };
  buttons.forEach((button, index) => {
    button.addEventListener("click", () => choose(index).catch((error) => notice(error.message)));
    button.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      event.preventDefault();
      choose((index + step + buttons.length) % buttons.length, true).catch((error) => notice(error.message));
    });
  });
  list.replaceChildren(...buttons);
  const wanted = () => Math.max(editors.findIndex(({ kind }) => `#${kind.path}` === location.hash), 0);
  window.addEventListener("hashchange", () => choose(wanted()).catch((error) => notice(error.message)));
  return choose(wanted());
}

export async function open(me) {
  if (me.role !== "admin") {
    refuse(me);
    return;
  }
  const store = catalogStore();
  // Every form offers the records of other collections (a clinician's location, a service's device types, a user's
  // clinician), so all are loaded first.
  await Promise.all(KINDS.map((kind) => store.load(kind.path)));
  const editors = KINDS.map((kind) => ({ kind, ...editor(kind, store) }));
  document.getElementById("admin-panels").replaceChildren(...editors.map(({ panel }) => panel));
  document.getElementById("admin").hidden = false;
  await tabs(editors);
}
