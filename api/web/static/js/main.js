// Starts the page named by <body data-page>: public pages at once, staff pages after checking the sign-in.
// Each page is a module in ./pages/ exporting `open(me)`; when its data and handlers are in place the body gets
// data-ready="true" (what the browser tests wait for).
import { api, forgetToken, notice, signInAgain, signedIn } from "./core.js";

const PUBLIC = new Set(["login", "request", "request_status", "me", "stop"]);

function showMenuFor(me) {
  // Only the entries this role can use; the API refuses the rest anyway.
  for (const link of document.querySelectorAll("nav [data-roles]")) {
    link.hidden = !link.dataset.roles.split(" ").includes(me.role);
  }
  document.getElementById("who").textContent = `${me.username} (${me.role.replace("_", " ")})`;
  document.getElementById("sign-out").addEventListener("click", () => {
    forgetToken();
    location.assign("/app/login");
  });
}

async function start() {
  const name = document.body.dataset.page;
  if (!name) return;
  if (!PUBLIC.has(name) && !signedIn()) {
    signInAgain();
    return;
  }
  // The page's module loads while the sign-in is checked.
  const [me, page] = await Promise.all([PUBLIC.has(name) ? null : api("auth/me"), import(`./pages/${name}.js`)]);
  if (me) showMenuFor(me);
  await page.open(me);
}

start().catch((error) => notice(error.message)).finally(() => { document.body.dataset.ready = "true"; });
