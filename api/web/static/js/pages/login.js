import { API, api, keepToken, notice, onSubmit } from "../core.js";

export async function open() {
  const asked = new URLSearchParams(location.search);
  // Back to the page that sent the desk here; only a page of this app (never another site's address).
  const next = /^\/app\/[a-z_]/.test(asked.get("next") || "") && !asked.get("next").startsWith("/app/login")
    ? asked.get("next") : null;
  if (asked.get("expired")) notice("Your sign-in ran out; sign in again to carry on.", "info");
  onSubmit("login-form", async (values) => {
    const token = await api(`${API}/auth/token`, { method: "POST", form: values });
    keepToken(token.access_token);
    const me = await api("auth/me");
    location.assign(next || (me.role === "clinician" ? "/app/roster" : "/app/schedule"));
  });
}
