// The README's screenshots, from a real server with real data: `node e2e/screenshots.mjs [dir]`
// (default docs/screenshots). Runs local targets, the real agent and a push client for
// about a minute, then photographs the overview, a monitor, a host and the audit view.

import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_TOKEN, ROOT, binary, launchBrowser, startServer } from './harness.mjs';

const out = process.argv[2] || join(ROOT, 'docs', 'screenshots');
mkdirSync(out, { recursive: true });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A target whose paths answer with different speeds and statuses.
const target = createServer((req, res) => {
  const slow = req.url.startsWith('/search') ? 60 + Math.random() * 140 : 2 + Math.random() * 20;
  setTimeout(() => {
    res.writeHead(req.url.startsWith('/billing') ? 503 : 200);
    res.end('ok');
  }, slow);
});
await new Promise((r) => target.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${target.address().port}`;

const server = await startServer();
const monitor = async (body) => {
  const res = await server.api('POST', '/monitors', { interval_s: 2, retries: 1, timeout_ms: 1500, ...body });
  if (res.status !== 201) throw new Error(JSON.stringify(res.body));
  return res.body;
};
const shop = await monitor({ name: 'shop', kind: 'http', url: `${base}/health`, tags: ['prod'] });
await monitor({ name: 'search api', kind: 'http', url: `${base}/search`, tags: ['prod'] });
const billing = await monitor({ name: 'billing', kind: 'http', url: `${base}/billing`, tags: ['prod'] });
await monitor({ name: 'checkout', kind: 'http', url: `${base}/checkout`, tags: ['prod'] });
await monitor({ name: 'postgres port', kind: 'tcp', host: '127.0.0.1', port: target.address().port, tags: ['db'] });
const backup = await monitor({ name: 'nightly backup', kind: 'push', interval_s: 60, tags: ['db'] });
const paused = await monitor({ name: 'staging', kind: 'http', url: `${base}/staging`, tags: ['staging'] });
await server.api('POST', `/monitors/${paused.id}/pause`);
await server.api('POST', '/alert-rules', { name: 'billing down', severity: 'critical', condition: { kind: 'monitor_down', monitor: billing.id }, channels: [] });
await server.api('POST', '/alert-rules', { name: 'shop down', severity: 'critical', condition: { kind: 'monitor_down', monitor: shop.id }, channels: [] });
await server.api('POST', '/users', { username: 'ada', password: 'correct horse battery staple', role: 'operator' });

// The real agent reports this machine as web-1; db-1 reports through the API.
const agentToken = (await server.api('POST', '/tokens', { name: 'web-1 agent', role: 'agent' })).body.token;
const agent = spawn(binary(), ['agent', '--server', server.url, '--token', agentToken, '--interval', '2s', '--hostname', 'web-1'], { stdio: 'ignore' });
const markTime = new Date();
const started = Date.now();
let n = 0;
while (Date.now() - started < 75000) {
  n += 1;
  await fetch(`${server.url}/api/v1/push/${backup.push_token}?status=up&ping=${Math.round(800 + Math.random() * 400)}`);
  await server.api('POST', '/hosts/db-1/metrics', {
    hostname: 'db-1',
    cpu: {
      cpu_percent_total: 55 + 25 * Math.sin(n / 4),
      cpu_percent_per_core: Array.from({ length: 8 }, (_, c) => 50 + 30 * Math.sin(n / 4 + c)),
      cpu_count_logical: 8,
      load_average: [3.1, 2.8, 2.5],
    },
    memory: { memory_total: 32 * 2 ** 30, memory_used: 26 * 2 ** 30, memory_percent: 81.2 },
    disk: { partitions: [{ mountpoint: '/', total: 200 * 2 ** 30, used: 120 * 2 ** 30, percent: 60 }, { mountpoint: '/var/lib/postgresql', total: 800 * 2 ** 30, used: 730 * 2 ** 30, percent: 91.3 }] },
    // Counters that grow, so the server derives network and disk rates.
    io: {
      network: { bytes_sent: n * 4e6 + Math.round(Math.random() * 1e6), bytes_recv: n * 9e6 + Math.round(Math.random() * 2e6) },
      disk_io: { read_bytes: n * 2e7, write_bytes: n * 6e6 + Math.round(Math.random() * 3e6) },
    },
  });
  await sleep(2000);
}
const alerts = (await server.api('GET', '/alerts?state=firing')).body;
const firing = (alerts.alerts ?? alerts)[0];
if (firing) await server.api('POST', `/alerts/${firing.id}/ack`, { comment: 'billing provider incident, on it' });

const browser = await launchBrowser();
try {
  const shoot = async (name, route, { width = 1280, height = 900, dark = false, wait } = {}) => {
    const context = await browser.newContext({ viewport: { width, height }, colorScheme: dark ? 'dark' : 'light', deviceScaleFactor: 1 });
    await context.addInitScript((token) => sessionStorage.setItem('watchfire.token', token), ADMIN_TOKEN);
    const page = await context.newPage();
    await page.goto(`${server.url}/${route}`);
    if (wait) await page.locator(wait).first().waitFor({ timeout: 15000 });
    await page.waitForTimeout(1500);
    await page.screenshot({ path: join(out, `${name}.png`) });
    await context.close();
    console.log('wrote', join(out, `${name}.png`));
  };
  await shoot('overview', '#/', { wait: '[data-testid="monitor-row"]' });
  await shoot('overview-dark-phone', '#/', { width: 390, height: 844, dark: true, wait: '[data-testid="monitor-row"]' });
  await shoot('monitor', `#/monitors/${shop.id}?range=1h`, { wait: '.uplot' });
  await shoot('host', '#/hosts/db-1?range=1h', { wait: '.uplot', height: 1100 });
  await shoot('alerts', '#/alerts', { dark: true });
  await shoot('audit', `#/audit?at=${encodeURIComponent(new Date(markTime.getTime() + 30000).toISOString())}`, { height: 1000 });
} finally {
  agent.kill('SIGTERM');
  await browser.close();
  await server.destroy();
  target.close();
}
