// The dashboard in a real headless Chromium against the real server: sign-in, live
// monitor states, alerts, hosts, audit, settings errors, theme, reconnection, phone width.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, launchBrowser, signInWithToken, startServer, startTarget, until } from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
/** Generous: checks run every second, but the test machine is slow and shared. */
const LIVE_MS = 30000;

let server;
let target;
let browser;

before(async () => {
  server = await startServer();
  target = await startTarget();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await target?.close();
  await server?.destroy();
});

/** A new page signed in with the admin token, failing the test on any page error. */
async function adminPage(options = {}) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, ...options });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.errors = errors;
  await signInWithToken(page, server.url);
  return page;
}

/** Creates a monitor through the API and returns it. */
async function createMonitor(body) {
  const res = await server.api('POST', '/monitors', { interval_s: 1, retries: 0, recover_after: 1, timeout_ms: 800, ...body });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** A host sample for `POST /hosts/{h}/metrics` at `at`. */
function sample(hostname, at, cpu) {
  return {
    hostname,
    timestamp: at.toISOString(),
    cpu: { cpu_percent_total: cpu, cpu_count_logical: 2, load_average: [cpu / 50, 1, 1] },
    memory: { memory_total: 8 * 2 ** 30, memory_used: 3 * 2 ** 30, memory_percent: 37.5 },
    disk: { partitions: [{ mountpoint: '/', total: 100 * 2 ** 30, used: 42 * 2 ** 30, percent: 42 }] },
  };
}

/** Waits for `field` to be marked invalid and returns the message it is described by. */
async function fieldError(page, field) {
  await until(async () => (await field.getAttribute('aria-invalid')) === 'true', 10000, 'the field to be marked invalid');
  const described = await field.getAttribute('aria-describedby');
  assert.ok(described, 'the field names its message');
  return page.locator(`[id="${described}"]`).innerText();
}

/** A `datetime-local` value for `d` in the browser's (this machine's) time. */
function localInput(d) {
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

describe('the dashboard', () => {
  test('signs in with a username and password and shows who is signed in', async () => {
    const created = await server.api('POST', '/users', { username: 'ada', password: PASSWORD, role: 'operator' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.getByLabel('Username').fill('ada');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: /password/i }).waitFor();

    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    assert.match(await page.locator('header').innerText(), /ada/);

    // The cookie keeps the session across a reload; signing out ends it.
    await page.reload();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await page.close();
  });

  test('a monitor made in settings goes down and up live, with the count in the title', async () => {
    const page = await adminPage();
    await page.goto(`${server.url}/#/settings/monitors`);
    await page.getByRole('button', { name: 'Add monitor' }).click();
    await page.getByLabel('Name', { exact: true }).fill('shop');
    await page.getByLabel('URL').fill(target.url);
    await page.getByLabel('Interval (s)').fill('1');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('settings-row').filter({ hasText: 'shop' }).waitFor();

    await page.goto(`${server.url}/#/`);
    await page.evaluate(() => {
      window.__sameDocument = true;
    });
    const row = page.getByTestId('monitor-row').filter({ hasText: 'shop' });
    await row.and(page.locator('[data-status="up"]')).waitFor({ timeout: LIVE_MS });

    target.setStatus(500);
    await row.and(page.locator('[data-status="down"]')).waitFor({ timeout: LIVE_MS });
    await until(async () => (await page.title()).startsWith('(1 down)'), LIVE_MS, 'the title to count the monitor down');
    const icon = await page.locator('link[rel="icon"]').getAttribute('href');
    assert.match(icon, /^data:image\/svg\+xml/, 'the favicon is redrawn');

    target.setStatus(200);
    await row.and(page.locator('[data-status="up"]')).waitFor({ timeout: LIVE_MS });
    await until(async () => !(await page.title()).includes('down'), LIVE_MS, 'the title to clear');
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload happened');
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('a public status page opens without signing in and shows a monitor go down and an incident live', async () => {
    const monitor = await createMonitor({ name: 'public-shop', kind: 'http', url: `${target.url}?token=e2e-secret` });
    const made = await server.api('POST', '/status-pages', {
      slug: 'e2e-public', title: 'Shop status', groups: [{ name: 'Shop', monitors: [monitor.id] }],
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/status/e2e-public`);
    await page.getByRole('heading', { name: 'Shop status' }).waitFor();
    assert.equal(await page.getByLabel('Password').count(), 0, 'no sign-in form');
    await page.evaluate(() => {
      window.__sameDocument = true;
    });
    const row = page.getByTestId('status-monitor').filter({ hasText: 'public-shop' });
    await row.getByTestId('status-monitor-status').filter({ hasText: 'up' }).waitFor({ timeout: LIVE_MS });

    target.setStatus(500);
    await row.getByTestId('status-monitor-status').filter({ hasText: 'down' }).waitFor({ timeout: LIVE_MS });
    await page.getByTestId('overall').filter({ hasText: /down/i }).waitFor({ timeout: LIVE_MS });
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload happened');
    assert.ok(!(await page.content()).includes('e2e-secret'), 'the monitored URL is not shown');
    target.setStatus(200);
    await row.getByTestId('status-monitor-status').filter({ hasText: 'up' }).waitFor({ timeout: LIVE_MS });

    // An incident posted in Settings appears on the open public page, live.
    const admin = await adminPage();
    await admin.goto(`${server.url}/#/settings/status-pages`);
    const entry = admin.getByTestId('settings-row').filter({ hasText: 'Shop status' });
    await entry.getByRole('button', { name: /Post incident/ }).click();
    await admin.getByLabel('Title').fill('Checkout is slow');
    await admin.getByLabel('Message').fill('We are looking into it');
    await admin.getByRole('button', { name: 'Save' }).click();
    await admin.getByText('Posted the incident.').waitFor();
    await page.getByTestId('incident').filter({ hasText: 'Checkout is slow' }).waitFor({ timeout: LIVE_MS });
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'still no reload');

    // Its title edited in Settings changes on the open public page, live.
    await entry.getByRole('button', { name: /Edit\s+Checkout is slow/ }).click();
    await admin.getByLabel('Title').fill('Checkout is slow in Europe');
    await admin.getByRole('button', { name: 'Save' }).click();
    await admin.getByText('Saved the incident.').waitFor();
    await page.getByTestId('incident').filter({ hasText: 'Checkout is slow in Europe' }).waitFor({ timeout: LIVE_MS });
    assert.deepEqual(admin.errors, []);
    await admin.close();
    assert.deepEqual(errors, []);
    await page.close();
    await server.api('DELETE', `/monitors/${monitor.id}`);
  });

  test('a bad value in a settings form shows the API error at its field and saves nothing', async () => {
    const before = (await server.api('GET', '/monitors')).body;
    const page = await adminPage();
    await page.goto(`${server.url}/#/settings/monitors`);
    await page.getByRole('button', { name: 'Add monitor' }).click();
    await page.getByLabel('Name', { exact: true }).fill('bad interval');
    await page.getByLabel('URL').fill(target.url);
    await page.getByLabel('Interval (s)').fill('0');
    await page.getByRole('button', { name: 'Save' }).click();
    const field = page.getByLabel('Interval (s)');
    await until(async () => (await field.getAttribute('aria-invalid')) === 'true', 10000, 'the interval field to be marked');
    const described = await field.getAttribute('aria-describedby');
    const message = await page.locator(`[id="${described}"]`).innerText();
    assert.match(message, /86400|second/i, message);
    const after = (await server.api('GET', '/monitors')).body;
    assert.equal(JSON.stringify(after.monitors?.length ?? after.length), JSON.stringify(before.monitors?.length ?? before.length));
    await page.close();
  });

  test('a Telegram channel is added and edited through the fields of its kind, its token kept', async () => {
    const page = await adminPage();
    const save = () => page.getByRole('button', { name: 'Save' }).click();
    await page.goto(`${server.url}/#/settings/channels`);
    await page.getByRole('button', { name: 'Add channel' }).click();
    await page.getByLabel('Name', { exact: true }).fill('tg-e2e');
    await page.getByLabel('Kind').selectOption('telegram');
    await page.getByLabel('Bot token').fill('123456:AAE-e2e_bot_token');
    const chat = page.getByLabel('Chat id');
    await chat.fill('@no spaces');
    await save();
    assert.match(await fieldError(page, chat), /chat/i);
    assert.ok(!(await server.api('GET', '/channels')).body.channels.some((c) => c.name === 'tg-e2e'), 'the bad channel is not saved');
    await chat.fill('-100200300');
    await page.getByLabel('Formatting').selectOption('HTML');
    await save();
    await page.getByTestId('settings-row').filter({ hasText: 'tg-e2e' }).filter({ hasText: 'chat -100200300' }).waitFor();
    const channel = (await server.api('GET', '/channels')).body.channels.find((c) => c.name === 'tg-e2e');
    assert.deepEqual([channel?.kind, channel?.parse_mode, channel?.has_bot_token], ['telegram', 'HTML', true], JSON.stringify(channel));
    assert.ok(!JSON.stringify(channel).includes('e2e_bot_token'), 'the token is never answered');

    // Edited: the token field starts empty and is kept; the chat id starts as it is.
    const row = page.locator(`[data-testid="settings-row"][data-id="${channel.id}"]`);
    await row.getByRole('button', { name: 'Edit tg-e2e', exact: true }).click();
    await page.getByRole('heading', { name: 'Edit channel “tg-e2e”' }).waitFor();
    assert.equal(await page.getByLabel('Bot token').inputValue(), '');
    assert.equal(await chat.inputValue(), '-100200300');
    await chat.fill('@watchfire_e2e');
    await save();
    await row.filter({ hasText: 'chat @watchfire_e2e' }).waitFor();
    const edited = (await server.api('GET', '/channels')).body.channels.find((c) => c.id === channel.id);
    assert.deepEqual([edited?.chat_id, edited?.parse_mode, edited?.has_bot_token], ['@watchfire_e2e', 'HTML', true], JSON.stringify(edited));
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('settings create, edit and delete rules, channels, silences, tokens and users', async () => {
    // A push monitor with a long interval stays pending, so nothing fires while it is used.
    const monitor = await createMonitor({ name: 'beat-e2e', kind: 'push', interval_s: 3600 });
    const page = await adminPage();
    const rowOf = (id) => page.locator(`[data-testid="settings-row"][data-id="${id}"]`);
    const save = () => page.getByRole('button', { name: 'Save' }).click();

    // An existing monitor is renamed through its edit form.
    await page.goto(`${server.url}/#/settings/monitors`);
    await page.getByRole('link', { name: 'Edit beat-e2e', exact: true }).click();
    await page.getByRole('heading', { name: 'Edit monitor “beat-e2e”' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('pulse-e2e');
    await save();
    await rowOf(monitor.id).filter({ hasText: 'pulse-e2e' }).waitFor();
    assert.equal((await server.api('GET', `/monitors/${monitor.id}`)).body.name, 'pulse-e2e');

    // Channels: a bad URL is refused at its field; a signed webhook is added.
    await page.goto(`${server.url}/#/settings/channels`);
    await page.getByRole('button', { name: 'Add channel' }).click();
    await page.getByLabel('Name', { exact: true }).fill('hook-e2e');
    await page.getByLabel('Kind').selectOption('webhook');
    const url = page.getByLabel('URL', { exact: true });
    await url.fill('ftp://x');
    await save();
    assert.match(await fieldError(page, url), /http/i);
    assert.ok(!(await server.api('GET', '/channels')).body.channels.some((c) => c.name === 'hook-e2e'), 'the bad channel is not saved');
    await url.fill('http://127.0.0.1:9/hook');
    await page.getByLabel('Secret', { exact: true }).fill('e2e-signing-secret');
    await save();
    // The list shows the URL's scheme, host and port only.
    await page.getByTestId('settings-row').filter({ hasText: 'hook-e2e' }).filter({ hasText: 'http://127.0.0.1:9/…' }).waitFor();
    const channel = (await server.api('GET', '/channels')).body.channels.find((c) => c.name === 'hook-e2e');
    assert.deepEqual([channel?.kind, channel?.has_secret], ['webhook', true], JSON.stringify(channel));

    // The channel is edited: the kind is shown but fixed, the URL and secret are left empty
    // (kept as they are); a bad URL is refused at its field, then the name alone is changed.
    await rowOf(channel.id).getByRole('button', { name: 'Edit hook-e2e', exact: true }).click();
    await page.getByRole('heading', { name: 'Edit channel “hook-e2e”' }).waitFor();
    assert.equal(await page.getByLabel('Kind').inputValue(), 'Webhook');
    assert.equal(await page.getByLabel('Kind').isEditable(), false, 'the kind cannot be changed');
    assert.equal(await url.inputValue(), '', 'the redacted URL is not put in the form');
    assert.equal(await page.getByLabel('Secret', { exact: true }).inputValue(), '');
    assert.equal(await page.getByLabel(/Remove the secret/).isChecked(), false);
    await url.fill('ftp://y');
    await save();
    assert.match(await fieldError(page, url), /http/i);
    assert.equal((await server.api('GET', '/channels')).body.channels.find((c) => c.id === channel.id)?.name, 'hook-e2e', 'the refused edit saves nothing');
    await url.fill('');
    await page.getByLabel('Name', { exact: true }).fill('hook-e2e-renamed');
    await save();
    await rowOf(channel.id).filter({ hasText: 'hook-e2e-renamed' }).filter({ hasText: 'http://127.0.0.1:9/…' }).filter({ hasText: '(signed)' }).waitFor();
    const renamed = (await server.api('GET', '/channels')).body.channels.find((c) => c.id === channel.id);
    assert.deepEqual([renamed?.name, renamed?.kind, renamed?.url, renamed?.has_secret], ['hook-e2e-renamed', 'webhook', channel.url, true], JSON.stringify(renamed));

    // Alert rules: one on the monitor, notifying the channel; edited, then deleted.
    await page.goto(`${server.url}/#/settings/rules`);
    await page.getByRole('button', { name: 'Add rule' }).click();
    await page.getByLabel('Name', { exact: true }).fill('rule-e2e');
    await page.getByLabel('Severity').selectOption('warning');
    await page.getByLabel('Monitor', { exact: true }).selectOption({ label: 'pulse-e2e (push)' });
    await page.getByRole('checkbox', { name: /hook-e2e-renamed/ }).check();
    await save();
    await page.getByTestId('settings-row').filter({ hasText: 'rule-e2e' }).filter({ hasText: 'monitor pulse-e2e down' }).waitFor();
    const rule = (await server.api('GET', '/alert-rules')).body.rules.find((r) => r.name === 'rule-e2e');
    assert.deepEqual([rule?.severity, rule?.condition, rule?.channels], ['warning', { kind: 'monitor_down', monitor: monitor.id, for_s: 0 }, [channel.id]], JSON.stringify(rule));
    const ruleRow = rowOf(rule.id);
    assert.match(await ruleRow.innerText(), /hook-e2e-renamed/);

    await ruleRow.getByRole('button', { name: 'Edit rule-e2e', exact: true }).click();
    await page.getByRole('heading', { name: 'Edit rule “rule-e2e”' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('rule-e2e-renamed');
    await page.getByLabel('Severity').selectOption('critical');
    await save();
    await ruleRow.filter({ hasText: 'rule-e2e-renamed' }).locator('td[data-label="Severity"]', { hasText: 'critical' }).waitFor();
    const edited = (await server.api('GET', `/alert-rules/${rule.id}`)).body;
    assert.deepEqual([edited.name, edited.severity, edited.channels], ['rule-e2e-renamed', 'critical', [channel.id]]);

    await ruleRow.getByRole('button', { name: 'Delete rule-e2e-renamed', exact: true }).click();
    await ruleRow.getByRole('button', { name: 'Yes, delete' }).click();
    await ruleRow.waitFor({ state: 'detached' });
    const rules = (await server.api('GET', '/alert-rules')).body.rules;
    assert.ok(!rules.some((r) => r.id === rule.id || r.name.startsWith('rule-e2e')), JSON.stringify(rules));

    // The channel is deleted.
    await page.goto(`${server.url}/#/settings/channels`);
    await rowOf(channel.id).getByRole('button', { name: 'Delete hook-e2e-renamed', exact: true }).click();
    await rowOf(channel.id).getByRole('button', { name: 'Yes, delete' }).click();
    await rowOf(channel.id).waitFor({ state: 'detached' });
    assert.ok(!(await server.api('GET', '/channels')).body.channels.some((c) => c.id === channel.id), 'the channel is gone');

    // Silences: tag=prod for an hour, listed as active, then lifted.
    await page.goto(`${server.url}/#/settings/silences`);
    await page.getByRole('button', { name: 'Add silence' }).click();
    await page.getByLabel('Tag', { exact: true }).fill('prod');
    const ends = new Date(Date.now() + 3600000);
    await page.getByLabel('Ends', { exact: true }).fill(localInput(ends));
    await page.getByLabel('Comment').fill('deploy-e2e');
    await save();
    const silenceRow = page.getByTestId('settings-row').filter({ hasText: 'deploy-e2e' });
    await silenceRow.filter({ hasText: 'tag = prod' }).locator('td[data-label="State"]', { hasText: 'active' }).waitFor();
    const silence = (await server.api('GET', '/silences')).body.silences.find((s) => s.comment === 'deploy-e2e');
    assert.deepEqual(silence?.matchers, { tag: 'prod' }, JSON.stringify(silence));
    assert.ok(Math.abs(new Date(silence.ends_at).getTime() - ends.getTime()) < 60000, `ends in an hour: ${silence.ends_at}`);

    // Editing it replaces it: the form opens with its matchers, end and comment; a bad
    // end is refused at its field and the old silence stays; then a new comment is saved
    // as a new silence, and the old one is lifted.
    await rowOf(silence.id).getByRole('button', { name: 'Edit silence', exact: true }).click();
    await page.getByRole('heading', { name: 'Edit silence' }).waitFor();
    await page.getByText('Saving replaces this silence with a new one').waitFor();
    assert.deepEqual(
      [await page.getByLabel('Tag', { exact: true }).inputValue(), await page.getByLabel('Ends', { exact: true }).inputValue(), await page.getByLabel('Comment').inputValue()],
      ['prod', localInput(ends), 'deploy-e2e'],
    );
    const endsField = page.getByLabel('Ends', { exact: true });
    await endsField.fill(localInput(new Date(Date.now() - 3600000)));
    await save();
    assert.match(await fieldError(page, endsField), /after/i);
    const kept = (await server.api('GET', '/silences')).body.silences.filter((s) => s.comment.startsWith('deploy-e2e'));
    assert.deepEqual(kept.map((s) => [s.id, s.lifted_at]), [[silence.id, null]], JSON.stringify(kept));
    await endsField.fill(localInput(ends));
    await page.getByLabel('Comment').fill('deploy-e2e-longer');
    await save();
    const replacedRow = page.getByTestId('settings-row').filter({ hasText: 'deploy-e2e-longer' });
    await replacedRow.filter({ hasText: 'tag = prod' }).locator('td[data-label="State"]', { hasText: 'active' }).waitFor();
    await rowOf(silence.id).locator('td[data-label="State"]', { hasText: 'lifted' }).waitFor();
    const afterEdit = (await server.api('GET', '/silences')).body.silences.filter((s) => s.comment.startsWith('deploy-e2e'));
    const replaced = afterEdit.filter((s) => s.active && !s.lifted_at);
    assert.deepEqual(replaced.map((s) => [s.comment, s.matchers]), [['deploy-e2e-longer', { tag: 'prod' }]], JSON.stringify(afterEdit));
    assert.notEqual(replaced[0].id, silence.id);
    assert.ok(Math.abs(new Date(replaced[0].ends_at).getTime() - ends.getTime()) < 60000, `the same end: ${replaced[0].ends_at}`);
    assert.ok(afterEdit.find((s) => s.id === silence.id)?.lifted_at, 'the old silence is lifted');

    // The new silence is lifted.
    await replacedRow.getByRole('button', { name: 'Delete silence', exact: true }).click();
    await replacedRow.getByRole('button', { name: 'Yes, delete' }).click();
    await replacedRow.locator('td[data-label="State"]', { hasText: 'lifted' }).waitFor();
    const lifted = (await server.api('GET', '/silences')).body.silences.find((s) => s.id === replaced[0].id);
    assert.ok(lifted?.lifted_at, JSON.stringify(lifted));

    // Tokens: the value is shown once and signs in until the token is revoked.
    await page.goto(`${server.url}/#/settings/tokens`);
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.getByLabel('Name', { exact: true }).fill('script-e2e');
    await page.getByLabel('Role').selectOption('viewer');
    await save();
    await page.getByTestId('new-token').filter({ hasText: 'script-e2e' }).waitFor();
    const value = await page.getByTestId('token-value').inputValue();
    assert.ok(value.length >= 16, 'a token value is shown');
    const me = () => fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${value}` } });
    const res = await me();
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json().then((b) => [b.name, b.role]), ['script-e2e', 'viewer']);
    const token = (await server.api('GET', '/tokens')).body.tokens.find((t) => t.name === 'script-e2e');
    assert.equal(JSON.stringify(token).includes(value), false, 'the list never shows the value');
    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByTestId('token-value').waitFor({ state: 'detached' });
    await rowOf(token.id).getByRole('button', { name: 'Revoke script-e2e', exact: true }).click();
    await rowOf(token.id).getByRole('button', { name: 'Yes, revoke' }).click();
    await rowOf(token.id).locator('td[data-label="State"]', { hasText: 'revoked' }).waitFor();
    assert.equal((await me()).status, 401, 'the revoked token no longer signs in');

    // Users: a short password is refused at its field; a user is added, then deleted.
    await page.goto(`${server.url}/#/settings/users`);
    await page.getByRole('button', { name: 'Add user' }).click();
    await page.getByLabel('Username').fill('bob');
    const password = page.getByLabel('Password', { exact: true });
    await password.fill('short');
    await save();
    assert.match(await fieldError(page, password), /12/);
    assert.ok(!(await server.api('GET', '/users')).body.users.some((u) => u.username === 'bob'), 'bob is not saved');
    await password.fill(PASSWORD);
    await page.getByLabel('Role').selectOption('operator');
    await save();
    await rowOf('bob').locator('td[data-label="Role"]', { hasText: 'operator' }).waitFor();

    // Bob's role is changed through the edit form; a short new password is refused there.
    await rowOf('bob').getByRole('button', { name: 'Edit bob', exact: true }).click();
    await page.getByRole('heading', { name: 'Edit user “bob”' }).waitFor();
    assert.equal(await page.getByLabel('Role').inputValue(), 'operator');
    const newPassword = page.getByLabel('New password');
    assert.equal(await newPassword.inputValue(), '', 'an empty password keeps the current one');
    await newPassword.fill('short');
    await save();
    assert.match(await fieldError(page, newPassword), /12/);
    await newPassword.fill('');
    await page.getByLabel('Role').selectOption('viewer');
    await save();
    await rowOf('bob').locator('td[data-label="Role"]', { hasText: 'viewer' }).waitFor();
    const bob = (await server.api('GET', '/users')).body.users.find((u) => u.username === 'bob');
    assert.equal(bob?.role, 'viewer', JSON.stringify(bob));
    // The password was left alone: bob still signs in with it.
    const login = await fetch(`${server.url}/api/v1/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'bob', password: PASSWORD }),
    });
    assert.equal(login.status, 200, 'the old password still signs bob in');

    await rowOf('bob').getByRole('button', { name: 'Delete bob', exact: true }).click();
    await rowOf('bob').getByRole('button', { name: 'Yes, delete' }).click();
    await rowOf('bob').waitFor({ state: 'detached' });
    const users = (await server.api('GET', '/users')).body.users;
    assert.ok(!users.some((u) => u.username === 'bob'), JSON.stringify(users));

    // The monitor made for this test is deleted again.
    await page.goto(`${server.url}/#/settings/monitors`);
    await rowOf(monitor.id).getByRole('button', { name: 'Delete pulse-e2e', exact: true }).click();
    await rowOf(monitor.id).getByRole('button', { name: 'Yes, delete' }).click();
    await rowOf(monitor.id).waitFor({ state: 'detached' });
    assert.equal((await server.api('GET', `/monitors/${monitor.id}`)).status, 404);
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('an alert fires live and is acknowledged from the alerts view', async () => {
    const monitor = await createMonitor({ name: 'api', kind: 'http', url: target.url.replace('/health', '/api') });
    const rule = await server.api('POST', '/alert-rules', {
      name: 'api down',
      severity: 'critical',
      condition: { kind: 'monitor_down', monitor: monitor.id },
      channels: [],
    });
    assert.equal(rule.status, 201, JSON.stringify(rule.body));
    const page = await adminPage();
    await page.goto(`${server.url}/#/alerts`);
    await page.getByRole('heading', { name: 'Alerts', exact: true }).waitFor();

    target.setStatus(503);
    const row = page.getByTestId('alert-row').filter({ hasText: 'api down' });
    await row.and(page.locator('[data-state="firing"]')).waitFor({ timeout: LIVE_MS });
    await row.getByRole('button', { name: 'Acknowledge' }).click();
    const focused = (locator) => locator.evaluate((el) => el === document.activeElement);
    await until(() => focused(page.getByLabel('Comment')), 5000, 'the focus in the comment field');
    await page.getByLabel('Comment').fill('looking into it');
    await page.getByRole('button', { name: /^(Acknowledge|Confirm|Save)/ }).last().click();
    await row.and(page.locator('[data-state="acknowledged"]')).waitFor({ timeout: LIVE_MS });
    await until(() => focused(row), 5000, 'the focus on the acknowledged alert');

    const alerts = (await server.api('GET', '/alerts?state=acknowledged')).body;
    const list = alerts.alerts ?? alerts;
    assert.ok(list.some((a) => a.rule === 'api down' && a.state === 'acknowledged'), JSON.stringify(alerts));
    target.setStatus(200);
    await row.waitFor({ state: 'detached', timeout: LIVE_MS });

    // Resolved, it is in the history; its page tells the timeline and the cause.
    const past = page.getByTestId('alert-history-row').filter({ hasText: 'api down' });
    await past.waitFor({ timeout: LIVE_MS });
    await past.getByRole('link', { name: 'api down' }).click();
    await page.getByRole('heading', { name: 'Timeline' }).waitFor();
    await until(async () => (await page.getByTestId('alert-step').count()) >= 3, 10000, 'the timeline steps');
    const steps = await page.getByRole('list', { name: 'Timeline' }).innerText();
    assert.match(steps, /acknowledged/i, steps);
    assert.match(steps, /looking into it/, steps);
    assert.match(steps, /resolved/i, steps);
    assert.match(await page.locator('.alert-cause').innerText(), /503/);
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('a host page draws its CPU, memory, disk, network and disk I/O charts', async () => {
    const now = Date.now();
    for (let i = 10; i >= 0; i -= 1) {
      const res = await server.api('POST', '/hosts/web-1/metrics', sample('web-1', new Date(now - i * 60000), 20 + i * 3));
      assert.ok(res.status < 300, JSON.stringify(res.body));
    }
    const page = await adminPage();
    await page.goto(`${server.url}/#/`);
    await page.getByTestId('host-card').filter({ hasText: 'web-1' }).click();
    await page.getByRole('heading', { name: 'web-1' }).waitFor();
    for (const title of ['CPU', 'Memory', 'Disk', 'Network', 'Disk I/O']) {
      await page.getByRole('heading', { name: title, exact: true }).first().waitFor();
      await page.getByRole('img', { name: title, exact: true }).first().waitFor();
    }
    assert.ok((await page.locator('.uplot canvas').count()) >= 5, 'five charts are drawn');
    await page.getByLabel('Range').first().waitFor();
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('the audit view shows the dashboard as it was before a monitor existed', async () => {
    const page = await adminPage();
    const beforeMonitor = new Date(Date.now() - 1000);
    await new Promise((r) => setTimeout(r, 1500));
    const later = await createMonitor({ name: 'later', kind: 'push' });
    await page.goto(`${server.url}/#/audit`);
    await page.getByRole('heading', { name: 'Audit' }).waitFor();

    const picker = page.getByLabel('Dashboard as it was at');
    const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
    await picker.fill(local(beforeMonitor));
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByTestId('monitor-row').filter({ hasText: 'shop' }).waitFor();
    assert.equal(await page.getByTestId('monitor-row').filter({ hasText: 'later' }).count(), 0, 'not yet created then');

    await picker.fill(local(new Date(Date.now() + 1000)));
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByTestId('monitor-row').filter({ hasText: 'later' }).waitFor();
    // The event log lists what happened, newest events included.
    await page.getByText('MonitorCreated').first().waitFor();

    // A push monitor's heartbeats join its check log live.
    await page.goto(`${server.url}/#/monitors/${later.id}`);
    await page.getByRole('heading', { name: 'Check log' }).waitFor();
    await until(async () => {
      assert.ok((await fetch(`${server.url}${later.push_url}?ping=12`)).ok, 'the heartbeat is taken');
      // Missed heartbeats are failed checks (its interval is 1 s); only a heartbeat passes.
      return page.locator('[data-testid="check-row"][data-ok="true"]').first().waitFor({ timeout: 2000 }).then(() => true, () => false);
    }, LIVE_MS, 'the heartbeat in the check log');
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('the theme follows the system and can be switched', async () => {
    const page = await adminPage({ colorScheme: 'dark' });
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    await page.emulateMedia({ colorScheme: 'light' });
    await until(async () => (await page.evaluate(() => document.documentElement.dataset.theme)) === 'light', 5000, 'the light theme');
    const button = page.getByTestId('theme');
    for (let i = 0; i < 3 && (await page.evaluate(() => document.documentElement.dataset.theme)) !== 'dark'; i += 1) await button.click();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.notEqual(bg, 'rgb(246, 247, 249)', 'the dark background is drawn');
    await page.close();
  });

  test('the header and views are reachable by keyboard', async () => {
    const page = await adminPage();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    let reached = false;
    for (let i = 0; i < 6 && !reached; i += 1) {
      reached = (await page.evaluate(() => document.activeElement?.textContent)) === 'Alerts';
      if (!reached) await page.keyboard.press('Tab');
    }
    assert.ok(reached, 'Tab reaches the Alerts link');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Alerts', exact: true }).waitFor();
    await until(async () => (await page.evaluate(() => document.activeElement?.id)) === 'main', 5000, 'the focus on the new page');
    await page.close();
  });

  test('the overview fits a phone screen', async () => {
    const page = await adminPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    await page.getByTestId('monitor-row').first().waitFor();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 392, `no sideways scrolling: ${width}px`);
    await page.close();
  });

  test('a dropped connection shows reconnecting and resumes with what was missed', async () => {
    const page = await adminPage();
    const row = page.getByTestId('monitor-row').filter({ hasText: 'shop' });
    await row.and(page.locator('[data-status="up"]')).waitFor({ timeout: LIVE_MS });
    await page.evaluate(() => {
      window.__sameDocument = true;
    });
    await server.stop();
    await page.getByText(/Reconnecting/).first().waitFor({ timeout: LIVE_MS });
    target.setStatus(500);
    server = await server.restart();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor({ timeout: LIVE_MS });
    await row.and(page.locator('[data-status="down"]')).waitFor({ timeout: LIVE_MS });
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload happened');
    target.setStatus(200);
    await page.close();
  });

  test('the admin token signs in too, and a wrong one is refused at the field', async () => {
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.getByRole('button', { name: 'Use an API token' }).click();
    await page.getByLabel('API token').fill('wrong-token-wrong-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').first().waitFor();
    assert.ok(ADMIN_TOKEN.length > 16);
    await page.close();
  });
});
