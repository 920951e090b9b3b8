// The README's first five minutes in a real browser (Debian's chromium,
// headless, driven by playwright-core) against a real ward-ca: sign in (as
// root, with the password `ward-ca root-password` set), create a user, a
// group and a policy (live validation), attach, create an access key and
// see its secret once, simulate a denial explained, open the access map,
// create a role, the certificates and audit pages. Screenshots go to
// WARD_ARTIFACTS.
//
// Run by ca/tests/dashboard_browser.rs, which starts ward-ca and sets:
//   WARD_ENDPOINT, WARD_ADMIN, WARD_PASSWORD, WARD_ACCOUNT, WARD_ARTIFACTS,
//   WARD_RECORDING (a session recording a gateway uploaded),
//   WARD_PLAYWRIGHT_DIR (where playwright-core is installed), CHROMIUM.
// Exit 3 (and "CHROMIUM-CANNOT-START") when the browser does not start.
import { createRequire } from "node:module";
import assert from "node:assert/strict";

const env = (k) => {
  const v = process.env[k];
  if (!v) { throw new Error(`${k} is not set`); }
  return v;
};
const require = createRequire(env("WARD_PLAYWRIGHT_DIR") + "/");
const { chromium } = require("playwright-core");

const base = env("WARD_ENDPOINT");
const shots = env("WARD_ARTIFACTS");
const account = env("WARD_ACCOUNT");

let browser;
try {
  browser = await chromium.launch({
    executablePath: env("CHROMIUM"),
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
} catch (e) {
  console.log("CHROMIUM-CANNOT-START " + e.message);
  process.exit(3);
}

const step = (name) => console.log("step: " + name);
const shot = (page, name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });

let page;
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") { errors.push(m.text()); } });

  step("open / and land on the sign-in page");
  await page.goto(base + "/");
  assert.match(page.url(), /\/ui\/login$/);
  await shot(page, "01-sign-in");

  step("sign in");
  await page.getByLabel("User name").fill(env("WARD_ADMIN"));
  await page.getByLabel("Password").fill(env("WARD_PASSWORD"));
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("Signed in as").waitFor();
  // The cookie is not readable by script.
  assert.equal(await page.evaluate(() => document.cookie), "");
  await shot(page, "02-home");

  step("create user alice");
  await page.getByRole("link", { name: "Users", exact: true }).first().click();
  await page.getByLabel("Name", { exact: true }).fill("alice");
  await page.getByLabel(/^Tags/).fill("team=web");
  await page.getByRole("button", { name: "Create user" }).click();
  await page.waitForURL(/\/ui\/users\/alice$/);
  await page.getByText("team=web").first().waitFor();

  step("create group devs with alice");
  await page.goto(base + "/ui/groups");
  await page.getByLabel("Name", { exact: true }).fill("devs");
  await page.getByRole("button", { name: "Create group" }).click();
  await page.waitForURL(/\/ui\/groups\/devs$/);
  await page.getByLabel("User", { exact: true }).fill("alice");
  await page.getByRole("button", { name: "Add member" }).click();
  await page.getByRole("link", { name: "alice" }).waitFor();

  step("create policy deploy-login with live validation");
  await page.goto(base + "/ui/policies");
  await page.getByText("Valid policy.").waitFor(); // the example document
  const editor = page.locator("#policy-document");
  await editor.fill('{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"host:Login","Resource":"*"}]}');
  await page.locator("#policy-document-problems").getByText("$.Statement[0].Effect").waitFor();
  await shot(page, "03-policy-invalid");
  await editor.fill(JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Sid: "LoginAsDeploy", Effect: "Allow", Action: "host:Login", Resource: "*",
      Condition: { StringEquals: { "host:Principal": "deploy" } } }],
  }, null, 2));
  await page.getByText("Valid policy.").waitFor();
  await page.getByLabel("Name", { exact: true }).fill("deploy-login");
  // Free text is rendered as text, never as markup.
  await page.getByLabel("Description").fill('<img src=x onerror="window.__xss=1">');
  await page.getByRole("button", { name: "Create policy" }).click();
  await page.waitForURL(/\/ui\/policies\/deploy-login$/);
  await page.getByText('<img src=x onerror="window.__xss=1">').waitFor();
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.equal(await page.locator("img").count(), 0);

  step("attach it to devs");
  await page.goto(base + "/ui/groups/devs");
  await page.getByLabel("Policy", { exact: true }).fill("deploy-login");
  await page.getByRole("button", { name: "Attach policy" }).click();
  await page.getByRole("link", { name: "deploy-login" }).waitFor();
  await shot(page, "04-group");

  step("create an access key for alice: the secret once");
  await page.goto(base + "/ui/users/alice");
  await page.getByRole("button", { name: "Create access key" }).click();
  const secret = (await page.locator("#new-key-secret").textContent()).trim();
  assert.equal(secret.length, 40);
  const keyId = (await page.locator("#new-key-id").textContent()).trim();
  assert.match(keyId, /^AKIA/);
  await page.getByRole("button", { name: "Copy" }).waitFor();
  await shot(page, "05-secret-once");
  await page.goto(base + "/ui/users/alice");
  await page.getByText(keyId).waitFor();
  assert.equal((await page.content()).includes(secret), false, "the secret is shown again");

  step("simulate: a denial explained");
  await page.goto(base + "/ui/simulate");
  await page.getByLabel("User", { exact: true }).fill("alice");
  await page.getByLabel(/^Actions/).fill("host:Login");
  await page.getByLabel(/^Resources/).fill(`arn:ward:host::${account}:host/web-01`);
  await page.getByLabel(/^Context/).fill("host:Principal=root");
  await page.getByRole("button", { name: "Simulate" }).click();
  await page.locator(".decision.denied").getByText("ImplicitlyDenied").waitFor();
  const why = await page.locator(".decision.denied .explanation").textContent();
  assert.ok(why.length > 10, why);
  await shot(page, "06-simulate-denied");
  await page.getByLabel(/^Context/).fill("host:Principal=deploy");
  await page.getByRole("button", { name: "Simulate" }).click();
  await page.locator(".decision.allowed").waitFor();
  await page.locator("pre.statement.matched").getByText("LoginAsDeploy").waitFor();
  await shot(page, "07-simulate-allowed");

  step("open the access map");
  await page.goto(base + "/ui/hosts");
  await page.getByRole("link", { name: "Who can log in" }).first().click();
  await page.getByLabel("Accounts").fill("deploy, root");
  await page.getByRole("button", { name: "Show" }).click();
  const row = page.locator("table.matrix tr", { has: page.getByRole("link", { name: "alice", exact: true }) });
  await row.waitFor();
  assert.equal(await row.locator("td.yes").count(), 1);
  await shot(page, "08-access-map");
  // A cell links to its explanation, asked of the simulator on click.
  await row.locator("td.yes a").click();
  await page.locator(".decision.allowed .explanation").waitFor();

  step("roles: create one with its trust policy validated live");
  await page.goto(base + "/ui/roles");
  await page.locator("#role-trust-problems").getByText("Valid policy.").waitFor();
  await page.getByLabel("Name", { exact: true }).fill("ci-deploy");
  await page.getByRole("button", { name: "Create role" }).click();
  await page.waitForURL(/\/ui\/roles\/ci-deploy$/);
  await page.getByRole("heading", { name: "Trust policy" }).waitFor();
  await shot(page, "10-role");

  step("certificates and the audit log (chain verified on demand)");
  await page.goto(base + "/ui/certificates");
  await page.getByRole("heading", { name: "Certificates" }).waitFor();
  await shot(page, "11-certificates");
  await page.goto(base + "/ui/audit?action=iam%3ACreateRole");
  await page.getByRole("button", { name: "Verify the chain" }).click();
  await page.locator("#chain-status").getByText("Chain intact").waitFor();
  await page.getByRole("cell", { name: "iam:CreateRole", exact: true }).waitFor();
  await shot(page, "12-audit");

  step("replay a gateway's session recording in the vendored player");
  const recording = env("WARD_RECORDING");
  await page.goto(base + "/ui/recordings");
  await page.getByRole("link", { name: /^Replay/ }).first().click();
  await page.waitForURL(new RegExp(`/ui/recordings/${recording}$`));
  await page.locator("#replay[data-state=ready]").waitFor();
  const player = page.locator("#replay .ap-player");
  await player.waitFor();
  // Play it: the cast's output is drawn as terminal text, its markup too.
  await player.click();
  await page.locator("#replay").getByText("replayed-in-the-browser", { exact: false }).first().waitFor();
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => window.__wardXss), undefined, "markup in the cast ran");
  assert.equal(await page.locator("#replay img").count(), 0, "markup in the cast became elements");
  assert.equal(await page.locator("#replay-status").isHidden(), true);
  await shot(page, "13-replay");

  step("sign out root; sign in as a user (MFA devices belong to users)");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/\/ui\/login$/);
  await page.getByLabel("User name").fill(env("WARD_USER"));
  await page.getByLabel("Password").fill(env("WARD_USER_PASSWORD"));
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("Signed in as").waitFor();

  step("MFA self-service: a new device's seed once; SSH keys page");
  await page.getByRole("link", { name: "MFA", exact: true }).click();
  await page.waitForURL(/\/ui\/mfa$/);
  await page.locator("#device-name").fill("admin-phone");
  await page.getByRole("button", { name: "Create device" }).click();
  const seed = (await page.locator("#mfa-secret").textContent()).trim();
  assert.match(seed, /^[A-Z2-7]{32}$/);
  assert.match(await page.locator("#mfa-uri").textContent(), /^otpauth:\/\/totp\//);
  assert.ok(await page.locator("#mfa-qr svg").isVisible(), "the seed's QR code is not shown");
  await shot(page, "08b-mfa-seed-once");
  await page.goto(base + "/ui/mfa");
  assert.equal((await page.content()).includes(seed), false, "the seed is shown again");
  // Not enabled: listed, to enable or delete.
  await page.getByRole("button", { name: "Delete admin-phone" }).waitFor();
  await page.getByRole("link", { name: "SSH keys", exact: true }).click();
  await page.getByText("No SSH keys.").waitFor();

  step("narrow screen (390 px)");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(base + "/ui/users");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the users page is ${overflow}px wider than a 390px screen`);
  await shot(page, "09-users-390");

  step("keyboard: the skip link is the first stop");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");

  step("sign out; the page is gone");
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/\/ui\/login$/);
  await page.goto(base + "/ui/users");
  assert.match(page.url(), /\/ui\/login$/);

  assert.deepEqual(errors, [], "page errors (CSP violations included)");
  console.log("FLOW-OK");
} catch (e) {
  console.error(e);
  if (page) {
    console.error("at " + page.url());
    await shot(page, "failure").catch(() => {});
  }
  process.exitCode = 1;
} finally {
  await browser.close();
}
