// Form controls built from a description of a record's fields, so one editor serves every kind of catalog record.
//
// A field is { name, label, kind, ... }; kinds: text, email, number, time (a wall-clock time of day), instant (a
// wall date-time in the record's location, sent as an instant with that location's offset), select, choices
// (checkboxes for a list of codes), check (a yes/no box), password, rows (a list of sub-records added and
// removed as rows, e.g. opening hours; rows may nest, e.g. a shift's breaks).
// Each built field is a widget: { node, read(), mark(path), describe(path), inputs(), refresh() }, where a path is
// the API's error location inside the record (["shifts", 0, "breaks", 1, "ends"]).
import { element } from "../core.js";
import { fromWall, toWall, zoneLabel } from "../clinic-time.js";

let serial = 0;
const uniqueId = (stem) => `${stem}-${++serial}`;

function options(select, choices, value, none) {
  // A value no longer among the choices (an archived service, say) stays, named as such, rather than vanish.
  const known = choices.some(([key]) => String(key) === String(value ?? ""));
  select.replaceChildren(
    ...(none !== undefined ? [element("option", none, { value: "" })] : []),
    ...choices.map(([key, text]) => element("option", text, { value: key })),
    ...(!known && value !== null && value !== undefined && value !== "" ? [
      element("option", `#${value} (no longer offered)`, { value })] : []));
  select.value = value ?? "";
}

function input(field, value, ctx) {
  const required = field.required || (field.kind === "password" && field.requiredOnCreate && ctx.creating);
  const common = { name: field.name, required };
  switch (field.kind) {
    case "select": {
      const select = element("select", undefined, common);
      options(select, field.options(ctx), value, field.none);
      return select;
    }
    case "number":
      return element("input", undefined, { ...common, type: "number", inputmode: "numeric", step: 1,
        min: field.min, max: field.max, value: value ?? "" });
    case "time":
      return element("input", undefined, { ...common, type: "time", value: value ? value.slice(0, 5) : "" });
    case "instant":
      return element("input", undefined, { ...common, type: "datetime-local",
        value: value ? toWall(value, ctx.place()).slice(0, 16) : "" });
    case "check":
      return element("input", undefined, { ...common, type: "checkbox", checked: Boolean(value) });
    case "password":
      return element("input", undefined, { ...common, type: "password", autocomplete: "new-password",
        minlength: 8, maxlength: 128 });
    default:
      return element("input", undefined, { ...common, type: field.kind === "email" ? "email" : "text",
        maxlength: field.max, placeholder: field.placeholder, value: value ?? "", autocomplete: "off" });
  }
}

function parse(field, box, ctx) {
  const text = box.value.trim();
  switch (field.kind) {
    case "check": return box.checked;
    case "number": return text === "" ? null : Number(text);
    case "select": return text === "" ? null : (field.numeric ? Number(text) : text);
    case "instant": return text === "" ? null : fromWall(text, ctx.place());
    case "password": return text === "" ? undefined : box.value; // left empty: the password stays as it is
    case "email": return text === "" ? null : text;
    default: return text;
  }
}

function scalar(field, value, ctx) {
  const box = input(field, value, ctx);
  const label = element("label", field.kind === "check" ? undefined : field.label,
    { class: field.kind === "check" ? "check" : undefined });
  if (field.kind === "check") label.append(box, ` ${field.label}`);
  else label.append(box);
  if (field.suggestions) {
    // Typed, with the usual answers offered (time zones, locales): the API has the last word on what is valid.
    const list = element("datalist", undefined, { id: uniqueId("suggest") });
    list.append(...field.suggestions().map((text) => element("option", undefined, { value: text })));
    box.setAttribute("list", list.id);
    label.append(list);
  }
  // The hint sits beside the label, not in it: it describes the field without becoming part of its name.
  const node = element("div", undefined, { class: "field" });
  node.append(label);
  if (field.help) {
    const help = element("small", field.help, { id: uniqueId("help"), class: "muted" });
    box.setAttribute("aria-describedby", help.id);
    node.append(help);
  }
  return {
    node,
    read: () => (node.hidden ? null : parse(field, box, ctx)),
    mark: () => { box.setAttribute("aria-invalid", "true"); return true; },
    describe: () => field.label,
    inputs: () => [box],
    refresh(values) {
      if (!field.shown) return;
      node.hidden = !field.shown(values);
      box.disabled = node.hidden; // a hidden field neither blocks the form nor is sent
    },
  };
}

function choices(field, value, ctx) {
  const chosen = new Set(value || []);
  const box = element("fieldset", undefined, { class: "choices-box" });
  box.append(element("legend", field.label));
  const boxes = field.options(ctx).map(([key, text]) => {
    const tick = element("input", undefined, { type: "checkbox", name: field.name, value: key,
      checked: chosen.has(key) });
    const label = element("label", undefined, { class: "check" });
    label.append(tick, ` ${text}`);
    box.append(label);
    return tick;
  });
  return {
    node: box,
    read: () => boxes.filter((tick) => tick.checked).map((tick) => tick.value),
    mark: () => { boxes.forEach((tick) => tick.setAttribute("aria-invalid", "true")); return boxes.length > 0; },
    describe: () => field.label,
    inputs: () => boxes,
    refresh() {},
  };
}

function rows(field, list, ctx) {
  const box = element("fieldset", undefined, { class: "rows" });
  const legend = element("legend", field.label);
  if (field.zoned) legend.append(" ", element("span", `(${zoneLabel(ctx.place())})`, { class: "zone-label" }));
  const items = element("div", undefined, { class: "stack" });
  const empty = element("p", field.empty || "None.", { class: "muted" });
  const entries = [];
  const renumber = () => entries.forEach((entry, index) => {
    entry.node.setAttribute("aria-label", `${field.item} ${index + 1}`);
    entry.remove.setAttribute("aria-label", `Remove ${field.item} ${index + 1}`);
    empty.hidden = entries.length > 0;
  });
  const add = (values) => {
    const fields = group(field.fields, values, ctx);
    const node = element("div", undefined, { class: "row rows-item", role: "group" });
    const remove = element("button", "Remove", { type: "button", class: "secondary" });
    const entry = { node, fields, remove };
    remove.addEventListener("click", () => {
      entries.splice(entries.indexOf(entry), 1);
      node.remove();
      empty.hidden = entries.length > 0;
      renumber();
    });
    // The row's own fields, its Remove button, then any list nested in it (a shift's breaks) on a line below.
    const nested = fields.nodes.filter((part) => part.tagName === "FIELDSET");
    node.append(...fields.nodes.filter((part) => !nested.includes(part)), remove, ...nested);
    entries.push(entry);
    items.append(node);
    renumber();
    return entry;
  };
  const more = element("button", field.add, { type: "button", class: "secondary" });
  more.addEventListener("click", () => {
    const entry = add(field.blank ? field.blank(ctx) : {});
    entry.fields.refresh();
    entry.fields.inputs()[0].focus();
  });
  (list || []).forEach(add);
  empty.hidden = entries.length > 0;
  box.append(legend, empty, items, more);
  return {
    node: box,
    read: () => entries.map((entry) => entry.fields.read()),
    mark([index, ...rest]) {
      if (index === undefined) {
        entries.forEach((entry) => entry.fields.mark([]));
        return entries.length > 0;
      }
      return entries[index] ? entries[index].fields.mark(rest) : false;
    },
    describe([index, ...rest]) {
      if (index === undefined || !entries[index]) return field.label;
      const inner = rest.length ? entries[index].fields.describe(rest) : "";
      return `${field.item} ${index + 1}${inner ? `, ${inner.charAt(0).toLowerCase()}${inner.slice(1)}` : ""}`;
    },
    inputs: () => entries.flatMap((entry) => entry.fields.inputs()),
    refresh() { entries.forEach((entry) => entry.fields.refresh()); },
  };
}

function widget(field, value, ctx) {
  if (field.kind === "rows") return rows(field, value, ctx);
  if (field.kind === "choices") return choices(field, value, ctx);
  return scalar(field, value, ctx);
}

export function group(fields, values, ctx) {
  // The fields of one record (or one row of a list): read together, marked and described by error path.
  const widgets = new Map(fields.map((field) => [field.name, widget(field, values ? values[field.name] : undefined,
    ctx)]));
  const self = {
    nodes: [...widgets.values()].map((part) => part.node),
    read() {
      const record = {};
      for (const [name, part] of widgets) {
        const value = part.read();
        if (value !== undefined) record[name] = value;
      }
      return record;
    },
    mark([name, ...rest]) {
      if (name === undefined) return [...widgets.values()].map((part) => part.mark([])).some(Boolean);
      return widgets.has(name) ? widgets.get(name).mark(rest) : false;
    },
    describe([name, ...rest]) {
      return widgets.has(name) ? widgets.get(name).describe(rest) : String(name ?? "");
    },
    inputs: () => [...widgets.values()].flatMap((part) => part.inputs()),
    refresh() {
      const values = self.read();
      for (const part of widgets.values()) part.refresh(values);
    },
  };
  return self;
}
