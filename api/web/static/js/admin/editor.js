// One list-and-form editor for any catalog collection: the records in a table, a form to create or edit one, and
// removal after a confirmation (archived instead when it has history, with a way back). What differs between
// locations, clinicians, devices and the rest is only their description in ./kinds.js.
import { action, api, busy, element, notice, reveal, table } from "../core.js";
import { zoneLabel } from "../clinic-time.js";
import { confirmed } from "./confirm.js";
import { everything } from "./store.js";
import { group } from "./fields.js";

const API_PREFIXES = new Set(["body", "query", "path"]);

function explained(error, fields, form) {
  // The API's refusal in words, each invalid field named as the form labels it, and those fields marked.
  const reasons = [];
  if (Array.isArray(error.detail)) {
    for (const problem of error.detail) {
      const path = (problem.loc || []).filter((part, index) => !(index === 0 && API_PREFIXES.has(part)));
      const marked = path.length > 0 && fields.mark(path);
      const message = String(problem.msg || "").replace(/^(Value|Assertion) error, /, "");
      reasons.push(marked ? `${fields.describe(path)}: ${message}` : message);
    }
  } else if (typeof error.detail === "string") {
    // A conflict names its field in the sentence ("a room with location_id 1, name 'Gym' already exists").
    for (const input of form.querySelectorAll("[name]")) {
      if (new RegExp(`\\b${input.name} ['"0-9]`).test(error.detail)) fields.mark([input.name]);
    }
    reasons.push(error.message);
  } else {
    reasons.push(error.message);
  }
  return reasons.join("; ");
}

function describedBy(box, id, on) {
  // An invalid field is described by the form's message too, next to its own hint.
  const ids = (box.getAttribute("aria-describedby") || "").split(" ").filter((other) => other && other !== id);
  if (on) ids.push(id);
  if (ids.length) box.setAttribute("aria-describedby", ids.join(" "));
  else box.removeAttribute("aria-describedby");
}

function lines(nodes) {
  // Single fields side by side (wrapping on a narrow screen); each list of rows (hours, shifts) on its own.
  const out = [];
  for (const node of nodes) {
    if (node.tagName === "FIELDSET") out.push(node);
    else {
      if (!out.length || out[out.length - 1].tagName === "FIELDSET") out.push(element("div", undefined,
        { class: "row fields" }));
      out[out.length - 1].append(node);
    }
  }
  return out;
}

export function editor(kind, store) {
  const panel = element("section", undefined, { class: "card", role: "tabpanel", id: `panel-${kind.path}`,
    "aria-labelledby": `tab-${kind.path}`, hidden: true, "data-kind": kind.path });
  const heading = element("h2", kind.title);
  const tools = element("div", undefined, { class: "row no-print" });
  const formBox = element("div", undefined, { hidden: true });
  const list = element("div");
  const state = { archived: false, shown: [] };
  let archivedBox;
  tools.append(action(`New ${kind.one}`, () => openForm(null)));
  if (kind.archivable) {
    archivedBox = element("input", undefined, { type: "checkbox", name: "archived" });
    const label = element("label", undefined, { class: "check" });
    label.append(archivedBox, ` Show archived ${kind.title.toLowerCase()}`);
    archivedBox.addEventListener("change", () => busy(archivedBox, reload));
    tools.append(label);
  }
  panel.append(heading, tools, formBox, list);

  async function reload(selected) {
    state.archived = Boolean(archivedBox && archivedBox.checked);
    state.shown = state.archived ? await everything(kind.path, { archived: true }) : await store.load(kind.path);
    render(selected);
  }

  function render(selected) {
    if (!state.shown.length) {
      list.replaceChildren(element("p", state.archived ? `No archived ${kind.title.toLowerCase()}.`
        : `No ${kind.title.toLowerCase()} yet.`, { class: "muted" }));
      return;
    }
    const grid = table([...kind.headings, ""], state.shown.map((record) => {
      const name = kind.name(record);
      const button = state.archived
        ? action("Restore", () => restore(record), { "aria-label": `Restore ${name}` })
        : action("Edit", () => openForm(record), { "aria-label": `Edit ${name}` });
      return [...kind.cells(record, store), button];
    }));
    state.shown.forEach((record, index) => {
      const row = grid.tBodies[0].rows[index];
      row.dataset.id = record.id;
      if (record.id === selected) row.setAttribute("aria-selected", "true");
    });
    list.replaceChildren(grid);
  }

  async function restore(record) {
    await api(`${kind.path}/${record.id}/restore`, { method: "POST" });
    notice(`Restored ${kind.one} ${kind.name(record)}: offered and bookable again.`, "ok");
    await reload();
  }

  function openForm(record) {
    const creating = record === null;
    const initial = record || kind.blank(store);
    const placeValues = { ...initial };
    const ctx = { creating, store, place: () => kind.place(placeValues, store) };
    const fields = group(kind.fields(store, ctx), initial, ctx);
    const form = element("form", undefined, { class: "stack", "aria-labelledby": `form-title-${kind.path}` });
    const problem = element("p", undefined, { class: "error", id: `form-problem-${kind.path}`, hidden: true,
      "aria-live": "polite" });
    const buttons = element("p", undefined, { class: "row" });
    buttons.append(element("button", `Save ${kind.one}`, { type: "submit" }),
      element("button", "Close", { type: "button", class: "secondary", "data-close": "" }));
    if (!creating) {
      buttons.append(action(kind.archivable ? "Remove or archive" : "Delete", () => remove(record, problem),
        { class: "danger" }));
    }
    const title = creating ? `New ${kind.one}` : `Edit ${kind.one} ${kind.name(record)}`;
    form.append(element("h3", title, { id: `form-title-${kind.path}` }), ...lines(fields.nodes), problem, buttons);
    formBox.replaceChildren(form);

    const clear = () => {
      problem.hidden = true;
      for (const box of form.querySelectorAll("[aria-invalid]")) {
        box.removeAttribute("aria-invalid");
        describedBy(box, problem.id, false);
      }
    };
    const follow = () => {
      // The zone date-times are entered in follows the record's location as it is changed in the form.
      for (const name of kind.placeFields || []) {
        if (form.elements[name]) placeValues[name] = form.elements[name].value;
      }
      for (const label of form.querySelectorAll(".zone-label")) label.textContent = `(${zoneLabel(ctx.place())})`;
      fields.refresh();
    };
    form.addEventListener("change", follow);
    fields.refresh();
    form.querySelector("[data-close]").addEventListener("click", () => { formBox.hidden = true; });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(form.querySelector("button[type=submit]"), () => save(record, fields, form, problem, clear));
    });
    reveal(formBox);
  }

  async function save(record, fields, form, problem, clear) {
    clear();
    const values = fields.read();
    // An update sends only what the form changed: a field left alone keeps what it may keep (a disabled account
    // still naming its since-archived clinician, say), and its list rows are not rebuilt.
    const body = record ? Object.fromEntries(Object.entries(values).filter(([name, value]) =>
      JSON.stringify(value) !== JSON.stringify(record[name]))) : values;
    let saved;
    try {
      saved = record
        ? await api(`${kind.path}/${record.id}`, { method: "PATCH", body })
        : await api(kind.path, { method: "POST", body });
    } catch (error) {
      const words = explained(error, fields, form);
      for (const box of form.querySelectorAll("[aria-invalid]")) describedBy(box, problem.id, true);
      problem.textContent = `Not saved: ${words}`;
      problem.hidden = false;
      throw new Error(`The ${kind.one} was not saved: ${words}`);
    }
    formBox.hidden = true;
    if (archivedBox) archivedBox.checked = false;
    await reload(saved.id);
    notice(`Saved ${kind.one} ${kind.name(saved)}.`, "ok");
  }

  async function remove(record, problem) {
    const name = kind.name(record);
    const question = kind.archivable
      ? `Remove ${kind.one} ${name}? If any session ever used it, it is archived instead: kept so past sessions `
        + "still name it, no longer offered or booked, and it can be restored."
      : `Delete ${kind.one} ${name}? This cannot be undone.`;
    if (!await confirmed(question, { confirmLabel: kind.archivable ? `Remove ${kind.one}` : `Delete ${kind.one}` })) {
      return;
    }
    let archived;
    try {
      archived = await api(`${kind.path}/${record.id}`, { method: "DELETE" });
    } catch (error) {
      problem.textContent = `Not removed: ${error.message}`;
      problem.hidden = false;
      throw error;
    }
    formBox.hidden = true;
    await reload();
    notice(archived
      ? `Archived ${kind.one} ${name}: it has history, so it is kept for past sessions and no longer offered `
        + `(Show archived ${kind.title.toLowerCase()} to restore it).`
      : `Deleted ${kind.one} ${name}.`, "ok");
  }

  return { panel, reload };
}
