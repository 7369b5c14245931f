// The dashboard under load, measured in Chromium with the Performance API:
// `node e2e/perf.mjs [monitors=1000] [updates_per_s=100] [seconds=20]` (after `cargo build --release`).
//
// 1. Creates the monitors (push monitors, each with a first heartbeat) on the release server.
// 2. Loads the overview three times: time from navigation start to every monitor row painted.
// 3. Pushes `updates_per_s` heartbeats a second to random monitors for `seconds` (one in
//    twenty says down, so rows change status too) while the page records every animation
//    frame, long task and long animation frame.

import { join } from 'node:path';
import { ADMIN_TOKEN, ROOT, launchBrowser, startServer, until } from './harness.mjs';

const [count = 1000, rate = 100, seconds = 20] = process.argv.slice(2).map(Number);
process.env.WATCHFIRE_BIN ||= join(ROOT, 'target', 'release', 'watchfire');

const server = await startServer();
const browser = await launchBrowser();
try {
  console.log(`creating ${count} push monitors`);
  const tokens = [];
  const queue = Array.from({ length: count }, (_, i) => i);
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (queue.length) {
        const i = queue.shift();
        const res = await server.api('POST', '/monitors', { name: `push-${String(i).padStart(4, '0')}`, kind: 'push', interval_s: 3600, tags: [`group-${i % 10}`] });
        if (res.status !== 201) throw new Error(`create: ${res.status} ${JSON.stringify(res.body)}`);
        tokens[i] = res.body.push_token;
      }
    }),
  );
  const push = (token, up, ping) => fetch(`${server.url}/api/v1/push/${token}?status=${up ? 'up' : 'down'}&ping=${ping}`).then((r) => r.arrayBuffer());
  for (let i = 0; i < count; i += 50) await Promise.all(tokens.slice(i, i + 50).map((t) => push(t, true, 20)));

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript((token) => {
    sessionStorage.setItem('watchfire.token', token);
    // Marks the first frame at which every row is in the DOM.
    const want = Number(sessionStorage.getItem('perf.want') || 0);
    const tick = () => {
      if (document.querySelectorAll('[data-testid="monitor-row"]').length >= want && want > 0) {
        window.__rowsInDomAt = performance.now();
        requestAnimationFrame(() => {
          window.__rowsPaintedAt = performance.now();
        });
        return;
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }, ADMIN_TOKEN);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/favicon.svg`);
  await page.evaluate((n) => sessionStorage.setItem('perf.want', String(n)), count);

  const loads = [];
  for (let run = 0; run < 3; run += 1) {
    // A new document each run (a query differs): a hash change alone would not reload.
    await page.goto(`${server.url}/?run=${run}#/`);
    const at = await until(() => page.evaluate(() => window.__rowsPaintedAt), 60000, 'every row');
    const nav = await page.evaluate(() => {
      const n = performance.getEntriesByType('navigation')[0];
      const api = performance.getEntriesByType('resource').find((e) => e.name.includes('/api/v1/dashboard'));
      const fcp = performance.getEntriesByName('first-contentful-paint')[0];
      return { domContentLoaded: n.domContentLoadedEventEnd, load: n.loadEventEnd, dashboardFetched: api?.responseEnd, rowsInDom: window.__rowsInDomAt, firstPaint: fcp?.startTime };
    });
    loads.push({ rowsPainted: at, ...nav });
  }

  // The update phase: record frames and long tasks in the page, push from here.
  await page.evaluate(() => {
    const rec = { frames: [], longTasks: [], loafs: [], start: performance.now() };
    window.__rec = rec;
    const frame = (t) => {
      rec.frames.push(t);
      if (!rec.stop) requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
    new PerformanceObserver((l) => l.getEntries().forEach((e) => rec.longTasks.push(e.duration))).observe({ type: 'longtask' });
    try {
      new PerformanceObserver((l) => l.getEntries().forEach((e) => rec.loafs.push(e.duration))).observe({ type: 'long-animation-frame' });
    } catch {
      rec.loafs = null;
    }
    rec.framesBefore = window.__watchfireLive.stats.frames;
  });
  const started = Date.now();
  let sent = 0;
  let down = new Set();
  while (Date.now() - started < seconds * 1000) {
    const tickStart = Date.now();
    const batch = [];
    for (let k = 0; k < rate / 10; k += 1) {
      const i = Math.floor(Math.random() * count);
      const up = down.has(i) ? true : Math.random() >= 0.05;
      if (up) down.delete(i);
      else down.add(i);
      batch.push(push(tokens[i], up, Math.round(5 + Math.random() * 200)));
    }
    await Promise.all(batch);
    sent += batch.length;
    await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - tickStart))));
  }
  await page.waitForTimeout(1000);
  const rec = await page.evaluate(() => {
    const r = window.__rec;
    r.stop = true;
    return { frames: r.frames, longTasks: r.longTasks, loafs: r.loafs, updates: window.__watchfireLive.stats.frames - r.framesBefore };
  });
  const gaps = rec.frames.slice(1).map((t, i) => t - rec.frames[i]).sort((a, b) => a - b);
  const q = (p) => gaps[Math.min(gaps.length - 1, Math.floor(p * gaps.length))];
  const median = q(0.5);
  const dropped = gaps.reduce((n, g) => n + Math.max(0, Math.round(g / median) - 1), 0);
  const med = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const result = {
    monitors: count,
    load_ms: {
      rows_painted_median: Math.round(med(loads.map((l) => l.rowsPainted))),
      runs: loads.map((l) => Math.round(l.rowsPainted)),
      dom_content_loaded_median: Math.round(med(loads.map((l) => l.domContentLoaded))),
      first_contentful_paint_median: Math.round(med(loads.map((l) => l.firstPaint ?? NaN))),
      dashboard_fetched_median: Math.round(med(loads.map((l) => l.dashboardFetched ?? NaN))),
      rows_in_dom_median: Math.round(med(loads.map((l) => l.rowsInDom))),
    },
    updates: { pushed: sent, per_s: +(sent / seconds).toFixed(1), frames_received: rec.updates },
    frames: {
      count: rec.frames.length,
      interval_ms_p50: +median.toFixed(1),
      interval_ms_p99: +q(0.99).toFixed(1),
      interval_ms_max: +gaps[gaps.length - 1].toFixed(1),
      dropped,
      dropped_share: +(dropped / (rec.frames.length + dropped)).toFixed(4),
    },
    long_tasks: { count: rec.longTasks.length, max_ms: Math.round(Math.max(0, ...rec.longTasks)) },
    long_animation_frames: rec.loafs ? { count: rec.loafs.length, max_ms: Math.round(Math.max(0, ...rec.loafs)) } : 'unsupported',
    page_errors: errors,
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  await browser.close();
  await server.destroy();
}
