import { API, api, keepToken, onSubmit } from "../core.js";

export async function open() {
  onSubmit("login-form", async (values) => {
    const token = await api(`${API}/auth/token`, { method: "POST", form: values });
    keepToken(token.access_token);
    const me = await api("auth/me");
    location.assign(me.role === "clinician" ? "/app/roster" : "/app/schedule");
  });
}
