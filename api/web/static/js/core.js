// Plumbing every page shares: the JSON API with the tab's token, messages where the eye is, buttons that show work.
// Times are handled in ./clinic-time.js; nothing here reads the browser's clock or zone.

export const API = "/api/v1";
const TOKEN = "clinic-token";

export const signedIn = () => Boolean(sessionStorage.getItem(TOKEN));
export const keepToken = (token) => sessionStorage.setItem(TOKEN, token);
export const forgetToken = () => sessionStorage.removeItem(TOKEN);

export function signInAgain(expired = false) {
  // To the sign-in page, which brings the desk back here afterwards (and says why it is asked, if it is).
  const next = encodeURIComponent(location.pathname + location.search);
  location.assign(`/app/login?next=${next}${expired ? "&expired=1" : ""}`);
}

function lifeOf(token) {
  // When the token was issued and runs out (its payload's iat and exp, seconds); nothing is verified here.
  try {
    const { iat, exp } = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return { issued: iat * 1000, expires: exp * 1000 };
  } catch (error) {
    return null;
  }
}

let renewal = null;
async function renewedToken(token) {
  // A token past half its life is swapped for a fresh one before the call, so a sign-in lasts while the tab is in
  // use; it ran out after an hour, mid-booking (found by a probe). An idle tab's token still runs out.
  const life = lifeOf(token);
  if (!life || Date.now() < (life.issued + life.expires) / 2 || Date.now() >= life.expires) return token;
  renewal = renewal || fetch(`${API}/auth/renew`, { method: "POST",
    headers: { Accept: "application/json", Authorization: `Bearer ${token}` } })
    .then((response) => (response.ok ? response.json() : null))
    .then((fresh) => { if (fresh) keepToken(fresh.access_token); })
    .catch(() => {})
    .finally(() => { renewal = null; });
  await renewal;
  return sessionStorage.getItem(TOKEN);
}

// Pydantic's prefixes ("Value error, ") and field paths are developer talk; a person reads the field and the message.
const FIELD_WORDS = { given_name: "first name", family_name: "last name", birth_date: "date of birth",
  start: "time", phone: "phone", email: "e-mail", reason: "reason" };

function fieldName(location) {
  const field = (location || []).filter((part) => !["body", "query", "path"].includes(part) && typeof part !== "number");
  const last = field[field.length - 1];
  return last === undefined ? "" : FIELD_WORDS[last] || String(last).replace(/_/g, " ");
}

export function words(payload, status) {
  // The API's errors, in words: its sentence, or "field: message" per invalid field.
  const detail = payload && payload.detail;
  // A refusal because other records depend on this one names them (the API lists them in `blockers`).
  const named = payload && Array.isArray(payload.blockers) && payload.blockers.length
    ? `: ${payload.blockers.join(", ")}` : "";
  if (typeof detail === "string") return detail + named;
  if (Array.isArray(detail)) {
    return detail.map((d) => {
      const message = String(d.msg || "").replace(/^(Value|Assertion) error, /, "");
      const field = fieldName(d.loc);
      return field ? `${field}: ${message}` : message;
    }).join("; ");
  }
  return `the server could not do that (HTTP ${status})`;
}

export async function api(path, { method = "GET", body, form, version } = {}) {
  // ``version``: the version of the record the screen shows; the change is made only on that (If-Match), so a
  // screen left open cannot cancel or move what a colleague changed meanwhile (412).
  const headers = { Accept: "application/json" };
  if (version !== undefined) headers["If-Match"] = `W/"${version}"`;
  const stored = sessionStorage.getItem(TOKEN);
  const token = stored && !form ? await renewedToken(stored) : stored;
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (form) payload = new URLSearchParams(form);
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path.startsWith("/") ? path : `${API}/${path}`, { method, headers, body: payload });
  } catch (error) {
    throw new Error("the clinic server cannot be reached; check the connection and try again");
  }
  if (response.status === 401 && !form) {
    forgetToken();
    signInAgain(true);
    throw new Error("please sign in again");
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const failure = new Error(response.status === 412
      ? "someone changed this since your screen showed it, so nothing was done; look at it again"
      : words(data, response.status));
    failure.status = response.status;
    failure.detail = data && data.detail; // the API's own error list, for forms that mark the fields it names
    failure.blockers = (data && data.blockers) || []; // what a 409 names as standing in the way
    throw failure;
  }
  return data;
}

export function notice(message, kind = "error") {
  // A message pinned to the viewport (the page may be scrolled far from its top), read out by screen readers.
  const box = document.getElementById("notice");
  box.replaceChildren();
  box.className = kind;
  box.hidden = !message;
  if (!message) return;
  box.append(element("span", message, { id: "notice-text" }));
  const close = element("button", "×", { type: "button", "aria-label": "Dismiss message", class: "link" });
  close.addEventListener("click", () => { box.hidden = true; });
  box.append(close);
}

export async function busy(button, work) {
  // A loading indicator on the button that started a slow action; errors end up in the notice, in words.
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = "Working…";
  try {
    notice("");
    return await work();
  } catch (error) {
    notice(error.message);
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = label;
  }
}

export function onSubmit(formId, work) {
  const form = typeof formId === "string" ? document.getElementById(formId) : formId;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form.querySelector("button[type=submit]"), () => work(Object.fromEntries(new FormData(form)), form));
  });
  return form;
}

export function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "style") node.style.cssText = value; // CSSOM, which the Content-Security-Policy allows
    else node.setAttribute(name, value === true ? "" : value);
  }
  return node;
}

export function action(label, work, attributes = {}) {
  const button = element("button", label, { type: "button", ...attributes });
  button.addEventListener("click", () => busy(button, work));
  return button;
}

export function table(headings, rows, attributes = { class: "records" }) {
  // Rows are arrays of cells: text, or a node (a button, a link) placed as it is.
  const grid = element("table", undefined, attributes);
  const head = element("tr");
  head.append(...headings.map((heading) => element("th", heading, { scope: "col" })));
  grid.append(element("thead"), element("tbody"));
  grid.tHead.append(head);
  for (const cells of rows) {
    const row = element("tr");
    row.append(...cells.map((cell) => {
      const box = element("td");
      if (cell instanceof Node) box.append(cell);
      else box.textContent = cell === null || cell === undefined ? "" : String(cell);
      return box;
    }));
    grid.tBodies[0].append(row);
  }
  return grid;
}

export async function fill(select, path, label = (item) => item.name, { optional } = {}) {
  const page = await api(path);
  const items = Array.isArray(page) ? page : page.items;
  select.replaceChildren(...(optional ? [element("option", optional, { value: "" })] : []),
    ...items.map((item) => element("option", label(item), { value: item.id })));
  return items;
}

export function ask(question, { answer = "", confirmLabel = "OK", required = true, input: typed = true } = {}) {
  // An accessible modal question (a <dialog>), in place of window.prompt: resolves to the text, or null if cancelled.
  // Without an input (`input: false`) it asks yes or no, in place of window.confirm: "yes", or null.
  return new Promise((resolve) => {
    const dialog = element("dialog", undefined, { class: "ask", "aria-labelledby": "ask-question" });
    const form = element("form", undefined, { method: "dialog" });
    const label = element("label", question, { id: "ask-question" });
    const input = element("input", undefined, { name: "answer", value: typed ? answer : "yes", maxlength: "500",
      required, hidden: !typed });
    label.append(input);
    const buttons = element("p", undefined, { class: "row" });
    const cancel = element("button", "Back", { type: "button", value: "cancel" });
    buttons.append(element("button", confirmLabel, { type: "submit", value: "ok" }), cancel);
    form.append(label, buttons);
    dialog.append(form);
    document.body.append(dialog);
    const finish = (value) => { dialog.close(); dialog.remove(); resolve(value); };
    cancel.addEventListener("click", () => finish(null));
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); finish(null); });
    form.addEventListener("submit", (event) => { event.preventDefault(); finish(input.value.trim() || null); });
    dialog.showModal();
    if (typed) input.select();
  });
}

export function reveal(node) {
  // Bring a section the user just opened into view, and put the keyboard there.
  node.hidden = false;
  node.scrollIntoView({ block: "start", behavior: "instant" });
  const first = node.querySelector("input, select, textarea, button");
  if (first) first.focus({ preventScroll: true });
}
