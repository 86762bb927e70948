// The catalog as the admin screens hold it: every in-service record of each collection, reloaded after a change,
// so each form's choices (locations, device types, services, clinicians) name what exists now.
import { api } from "../core.js";
import { placeOf } from "../clinic-time.js";

const PAGE = 200; // the API's largest page

export async function everything(path, query = {}) {
  // Lists are paged; a clinic's catalog can outgrow one page, and a form must offer all of it.
  const items = [];
  for (;;) {
    const page = await api(`${path}?${new URLSearchParams({ ...query, offset: items.length, limit: PAGE })}`);
    items.push(...page.items);
    if (!page.items.length || items.length >= page.total) return items;
  }
}

export function catalogStore() {
  const lists = {};
  const store = {
    items: (path) => lists[path] || [],
    async load(path) {
      lists[path] = await everything(path);
      return lists[path];
    },
    byId: (path, id) => store.items(path).find((item) => item.id === id),
    nameOf(path, id) {
      if (id === null || id === undefined) return "";
      const found = store.byId(path, id);
      return found ? found.name || found.username : `#${id}`;
    },
    choices: (path) => store.items(path).map((item) => [item.id, item.name]),
    place(locationId) {
      // The zone and locale a clinician's or device's date-times are in: its location's (the first one before
      // a location is chosen).
      const location = store.byId("locations", Number(locationId)) || store.items("locations")[0];
      return location ? placeOf(location) : { zone: "UTC", locale: "en-US", name: "" };
    },
  };
  return store;
}
