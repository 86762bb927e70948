// What the admin screens edit, one description per catalog collection (see ./editor.js and ./fields.js): its
// fields as the API names them (api/schemas/catalog.py, people.py, plans.py), the table's columns, a new record's
// defaults, and the location whose zone and locale its times are in.
import { clockTime, placeOf, when, weekdayNames, wallDay, timeOf, zoneLabel } from "../clinic-time.js";

// The API's vocabularies (data/enums.py), as the clinic says them.
const CERTIFICATIONS = [["msus", "Diagnostic ultrasound (MSUS)"], ["dry_needling", "Dry needling"],
  ["eswt", "Shockwave therapy (ESWT)"], ["emtt", "EMTT"], ["manual_therapy", "Chiropractic / manual therapy"],
  ["dns", "Dynamic neuromuscular stabilization (DNS)"], ["gait", "Gait analysis"],
  ["physical_therapy", "Physical therapy"]];
const ROOM_KINDS = [["treatment", "Treatment room"], ["gym", "Gym"], ["gait_lab", "Gait lab"]];
const EXCEPTIONS = [["time_off", "Time off"], ["extra_shift", "Extra shift"]];
const ROLES = [["admin", "Administrator"], ["front_desk", "Front desk"], ["clinician", "Clinician"]];
const SAME_CLINICIAN = [["preferred", "Preferred"], ["required", "Required"], ["none", "No preference"]];
const LINKS = [["before", "all of the first before any of the second"],
  ["same_visit", "the second right after the first, same visit"]];
const LOCALES = ["en-US", "en-GB", "en-CA", "en-AU", "fr-CA", "es-US", "de-DE", "fr-FR"];

const labelOf = (pairs, code) => (pairs.find(([key]) => key === code) || [code, code || ""])[1];
const zones = () => (Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : []);
const weekdays = (ctx) => weekdayNames(ctx.place()).map((name, index) => [index, name]);
const wallClock = (starts, ends, place) => `${clockTime(starts, place)}–${clockTime(ends, place)}`;

function stretch(startsAt, endsAt, place) {
  // One day's window reads "Mon, Mar 1 9:00 AM–5:00 PM"; a longer one names both days.
  return wallDay(startsAt, place) === wallDay(endsAt, place)
    ? `${when(startsAt, place)}–${timeOf(endsAt, place)}` : `${when(startsAt, place)} – ${when(endsAt, place)}`;
}

function weekly(spans, place, extra = () => "") {
  // "Mon–Fri 9:00 AM–5:00 PM; Sat 9:00 AM–1:00 PM": days in a row with the same hours read as one range, in the
  // location's locale.
  const names = weekdayNames(place, "short");
  const days = names.map((_, weekday) => spans.filter((span) => span.weekday === weekday)
    .sort((a, b) => a.starts.localeCompare(b.starts))
    .map((span) => `${wallClock(span.starts, span.ends, place)}${extra(span)}`).join(" and "));
  const runs = [];
  days.forEach((hours, weekday) => {
    const last = runs[runs.length - 1];
    if (!hours) return;
    if (last && last.hours === hours && last.to === weekday - 1) last.to = weekday;
    else runs.push({ from: weekday, to: weekday, hours });
  });
  return runs.map(({ from, to, hours }) => `${names[from]}${to > from ? `–${names[to]}` : ""} ${hours}`)
    .join("; ") || "none";
}

function windows(list, place, describe) {
  if (!list.length) return "none";
  return `${list.map((item) => `${describe(item)} ${stretch(item.starts_at, item.ends_at, place)}`).join("; ")} `
    + `(${zoneLabel(place)})`;
}

// Patient messages are held back between these wall-clock times (a span over midnight when "until" is earlier).
const quietHours = (record) => (record.quiet_from && record.quiet_until
  ? wallClock(record.quiet_from, record.quiet_until, placeOf(record)) : "none");

// "44 East 30th Street, New York, NY 10016": the address in parts, or as written when it has none.
const postal = (record) => (record.address_line
  ? `${record.address_line}, ${record.city}, ${record.state} ${record.postal_code}` : record.address || "");

const text = (name, label, more = {}) => ({ name, label, kind: "text", max: 120, ...more });
const number = (name, label, min, max, more = {}) => ({ name, label, kind: "number", min, max, ...more });
const pick = (name, label, options, more = {}) => ({ name, label, kind: "select", options: () => options, ...more });
const reference = (name, label, path, more = {}) => ({ name, label, kind: "select", numeric: true,
  options: (ctx) => ctx.store.choices(path), ...more });
const code = () => text("code", "Code", { required: true, max: 40,
  help: "Short and stable: lowercase letters, digits and _, starting with a letter" });
const located = { placeFields: ["location_id"], place: (values, store) => store.place(values.location_id) };
const firstLocation = (store) => (store.items("locations")[0] || {}).id ?? null;

const LOCATIONS = {
  path: "locations", title: "Locations", one: "location", name: (record) => record.name,
  headings: ["Name", "Address", "Time zone", "Locale", "Opening hours (local)", "Quiet hours (local)"],
  cells: (record) => [record.name, postal(record), record.time_zone, record.locale,
    weekly(record.opening_hours, placeOf(record)), quietHours(record)],
  placeFields: ["time_zone", "locale"],
  place: (values) => placeOf({ time_zone: values.time_zone || "UTC", locale: values.locale, name: values.name }),
  blank: () => ({ time_zone: "America/New_York", locale: "en-US", opening_hours: [] }),
  fields: () => [
    text("name", "Name", { required: true }),
    text("address", "Address as written", { max: 300, help: "Free text, e.g. for directions" }),
    text("address_line", "Street", { max: 120,
      help: "Street and number, e.g. 44 East 30th Street. With city, state and postal code (all four or none), "
        + "the location's free times are published to slot finders" }),
    text("city", "City", { max: 80 }),
    text("state", "State", { max: 3, help: "Postal abbreviation, e.g. NY" }),
    text("postal_code", "Postal code", { max: 12, help: "e.g. 10016" }),
    text("phone", "Phone", { max: 40, help: "The front desk's number, e.g. +1 212 555 0100" }),
    text("website", "Web page", { max: 300, help: "e.g. https://clinic.example.org/midtown" }),
    text("time_zone", "Time zone", { required: true, max: 64, suggestions: zones,
      help: "An IANA name, e.g. America/New_York: every time of this location is its wall clock" }),
    text("locale", "Locale", { required: true, max: 35, suggestions: () => LOCALES,
      help: "How dates read in the app: en-US 'Tue, Dec 1 9:15 AM', en-GB 'Tue 1 Dec 09:15'" }),
    { name: "opening_hours", label: "Opening hours (the location's wall clock)", kind: "rows",
      item: "Opening hours", add: "Add opening hours", empty: "Closed every day until hours are added.",
      blank: () => ({ weekday: 0, starts: "08:00", ends: "18:00" }),
      fields: [pick("weekday", "Day", [], { options: weekdays, numeric: true, required: true }),
        { name: "starts", label: "Opens", kind: "time", required: true },
        { name: "ends", label: "Closes", kind: "time", required: true }] },
    { name: "quiet_from", label: "Quiet from", kind: "time",
      help: "No message to patients from this time (e.g. 9:00 PM) until Quiet until; both empty: none" },
    { name: "quiet_until", label: "Quiet until", kind: "time",
      help: "Messages due in the quiet hours wait until this time (e.g. 8:00 AM)" },
  ],
};

const CLINICIANS = {
  path: "clinicians", title: "Clinicians", one: "clinician", archivable: true, name: (record) => record.name,
  headings: ["Name", "Location", "Certifications", "Weekly shifts (local)", "Time off and extra shifts"],
  cells: (record, store) => {
    const place = store.place(record.location_id);
    return [[record.name, record.title].filter(Boolean).join(", "), store.nameOf("locations", record.location_id),
      record.certifications.map((code) => labelOf(CERTIFICATIONS, code)).join(", ") || "none",
      weekly(record.shifts, place, (shift) => shift.breaks.map((pause) =>
        ` (break ${wallClock(pause.starts, pause.ends, place)})`).join("")),
      windows(record.exceptions, place, (item) => labelOf(EXCEPTIONS, item.kind))];
  },
  ...located,
  blank: (store) => ({ location_id: firstLocation(store), certifications: [], shifts: [], exceptions: [] }),
  fields: () => [
    text("name", "Name", { required: true }),
    text("title", "Title", { max: 80, placeholder: "e.g. PT, DPT" }),
    { name: "email", label: "E-mail", kind: "email" },
    reference("location_id", "Location", "locations", { required: true }),
    { name: "certifications", label: "Certifications", kind: "choices", options: () => CERTIFICATIONS },
    { name: "shifts", label: "Weekly shifts (the location's wall clock)", kind: "rows", item: "Shift",
      add: "Add a weekly shift", empty: "No weekly shifts: not bookable except in extra shifts.",
      blank: () => ({ weekday: 0, starts: "09:00", ends: "17:00", breaks: [] }),
      fields: [pick("weekday", "Day", [], { options: weekdays, numeric: true, required: true }),
        { name: "starts", label: "Starts", kind: "time", required: true },
        { name: "ends", label: "Ends", kind: "time", required: true },
        { name: "breaks", label: "Breaks", kind: "rows", item: "Break", add: "Add a break", empty: "No break.",
          blank: () => ({ starts: "12:00", ends: "12:30" }),
          fields: [{ name: "starts", label: "Break starts", kind: "time", required: true },
            { name: "ends", label: "Break ends", kind: "time", required: true }] }] },
    { name: "exceptions", label: "Time off and extra shifts", kind: "rows", zoned: true, item: "Date change",
      add: "Add time off or an extra shift", empty: "No time off or extra shift.",
      blank: () => ({ kind: "time_off", note: "" }),
      fields: [pick("kind", "What", EXCEPTIONS, { required: true }),
        { name: "starts_at", label: "From", kind: "instant", required: true },
        { name: "ends_at", label: "Until", kind: "instant", required: true },
        text("note", "Note", { max: 200 })] },
  ],
};

const DEVICE_TYPES = {
  path: "device-types", title: "Device types", one: "device type", name: (record) => record.name,
  headings: ["Name", "Code", "Units in service"],
  cells: (record, store) => [record.name, record.code,
    String(store.items("devices").filter((unit) => unit.device_type_id === record.id).length)],
  place: (values, store) => store.place(null),
  blank: () => ({}),
  fields: () => [text("name", "Name", { required: true }), code()],
};

const DEVICES = {
  path: "devices", title: "Device units", one: "device unit", archivable: true, name: (record) => record.name,
  headings: ["Name", "Type", "Location", "Cleaning between patients", "Maintenance"],
  cells: (record, store) => [record.name, store.nameOf("device-types", record.device_type_id),
    store.nameOf("locations", record.location_id), `${record.cleaning_minutes} min`,
    windows(record.maintenance, store.place(record.location_id), (item) => item.reason || "maintenance")],
  ...located,
  blank: (store) => ({ location_id: firstLocation(store),
    device_type_id: (store.items("device-types")[0] || {}).id ?? null, cleaning_minutes: 0, maintenance: [] }),
  fields: () => [
    text("name", "Name", { required: true }),
    reference("device_type_id", "Type", "device-types", { required: true }),
    reference("location_id", "Location", "locations", { required: true }),
    number("cleaning_minutes", "Cleaning/setup minutes between patients", 0, 240, { required: true }),
    { name: "maintenance", label: "Maintenance", kind: "rows", zoned: true, item: "Maintenance window",
      add: "Add maintenance", empty: "No maintenance planned.", blank: () => ({ reason: "" }),
      fields: [{ name: "starts_at", label: "From", kind: "instant", required: true },
        { name: "ends_at", label: "Until", kind: "instant", required: true },
        text("reason", "Reason", { max: 200 })] },
  ],
};

const ROOMS = {
  path: "rooms", title: "Rooms", one: "room", archivable: true, name: (record) => record.name,
  headings: ["Name", "Kind", "Location"],
  cells: (record, store) => [record.name, labelOf(ROOM_KINDS, record.kind),
    store.nameOf("locations", record.location_id)],
  ...located,
  blank: (store) => ({ kind: "treatment", location_id: firstLocation(store) }),
  fields: () => [text("name", "Name", { required: true }), pick("kind", "Kind", ROOM_KINDS, { required: true }),
    reference("location_id", "Location", "locations", { required: true })],
};

const SERVICES = {
  path: "services", title: "Services", one: "service", archivable: true, name: (record) => record.name,
  headings: ["Name", "Code", "Length", "Needs"],
  cells: (record, store) => [record.name, record.code,
    `${record.duration_minutes} min` + (record.buffer_before_minutes || record.buffer_after_minutes
      ? ` (+${record.buffer_before_minutes} before, +${record.buffer_after_minutes} after)` : ""),
    [record.required_certification ? `certified in ${labelOf(CERTIFICATIONS, record.required_certification)}`
      : "any clinician", record.room_kind ? labelOf(ROOM_KINDS, record.room_kind) : "no room",
    ...record.device_needs.map((need) => `${need.count} × ${store.nameOf("device-types", need.device_type_id)}`)]
      .join(" · ")],
  place: (values, store) => store.place(null),
  blank: () => ({ duration_minutes: 30, buffer_before_minutes: 0, buffer_after_minutes: 0, room_kind: "treatment",
    device_needs: [] }),
  fields: () => [
    text("name", "Name", { required: true }), code(),
    number("duration_minutes", "Length (minutes)", 1, 480, { required: true }),
    pick("required_certification", "Clinician certified in", CERTIFICATIONS, { none: "Any clinician" }),
    pick("room_kind", "Room", ROOM_KINDS, { none: "No room (telehealth)" }),
    number("buffer_before_minutes", "Buffer before (minutes)", 0, 120, { required: true }),
    number("buffer_after_minutes", "Buffer after (minutes)", 0, 120, { required: true }),
    { name: "device_needs", label: "Devices needed at once", kind: "rows", item: "Device need",
      add: "Add a device need", empty: "No device.", blank: (ctx) => ({
        device_type_id: (ctx.store.items("device-types")[0] || {}).id ?? null, count: 1 }),
      fields: [reference("device_type_id", "Device type", "device-types", { required: true }),
        number("count", "Units", 1, 10, { required: true })] },
  ],
};

function spacing(line) {
  const range = (low, high, unit) => (low === null && high === null ? ""
    : low !== null && high !== null ? `${low}–${high} ${unit}` : low !== null ? `at least ${low} ${unit}`
      : `at most ${high} ${unit}`);
  return [range(line.min_gap_days, line.max_gap_days, "days"), range(line.min_gap_hours, line.max_gap_hours, "h")]
    .filter(Boolean).join(", ");
}

const PLAN_TEMPLATES = {
  path: "plan-templates", title: "Plan templates", one: "plan template", name: (record) => record.name,
  headings: ["Name", "Code", "Sessions"],
  cells: (record, store) => [record.name, record.code, record.lines.map((line) => {
    const apart = spacing(line);
    return `${line.count} × ${store.nameOf("services", line.service_id)}${apart ? ` (${apart} apart)` : ""}`;
  }).join("; ")],
  place: (values, store) => store.place(null),
  blank: () => ({ description: "", lines: [{ count: 1, same_clinician: "preferred" }], links: [] }),
  fields: () => [
    text("name", "Name", { required: true }), code(),
    text("description", "Description", { max: 500 }),
    { name: "lines", label: "Sessions", kind: "rows", item: "Line", add: "Add a service",
      empty: "A template needs at least one line.",
      blank: () => ({ count: 1, same_clinician: "preferred" }),
      fields: [reference("service_id", "Service", "services", { required: true }),
        number("count", "Sessions", 1, 30, { required: true }),
        number("min_gap_days", "At least (days apart)", 0, 180),
        number("max_gap_days", "At most (days apart)", 0, 180),
        number("min_gap_hours", "At least (hours apart)", 0, 4320),
        number("max_gap_hours", "At most (hours apart)", 0, 4320),
        pick("same_clinician", "Same clinician", SAME_CLINICIAN, { required: true })] },
    { name: "links", label: "Order between services", kind: "rows", item: "Link", add: "Add an order",
      empty: "No order between services.", blank: () => ({ kind: "before" }),
      fields: [reference("first_service_id", "First", "services", { required: true }),
        pick("kind", "How", LINKS, { required: true }),
        reference("then_service_id", "Then", "services", { required: true })] },
  ],
};

const USERS = {
  path: "users", title: "Users", one: "user", name: (record) => record.username,
  headings: ["User name", "Role", "Clinician", "Can sign in"],
  cells: (record, store) => [record.username, labelOf(ROLES, record.role),
    store.nameOf("clinicians", record.clinician_id), record.is_active ? "yes" : "no (disabled)"],
  place: (values, store) => store.place(null),
  blank: () => ({ role: "front_desk", is_active: true }),
  fields: (store, ctx) => [
    text("username", "User name", { required: true, max: 64,
      help: "3-64 letters, digits, dots, dashes or _; signing in ignores upper/lower case" }),
    pick("role", "Role", ROLES, { required: true }),
    reference("clinician_id", "Signs in as clinician", "clinicians", { none: "Choose the clinician",
      required: true, shown: (values) => values.role === "clinician" }),
    { name: "is_active", label: "Active (can sign in)", kind: "check" },
    { name: "password", label: ctx.creating ? "Password" : "New password (leave empty to keep the current one)",
      kind: "password", requiredOnCreate: true, help: "At least 8 characters" },
  ],
};

export const KINDS = [LOCATIONS, CLINICIANS, DEVICE_TYPES, DEVICES, ROOMS, SERVICES, PLAN_TEMPLATES, USERS];
