// Monitor cards' hourly rollups kept current between dashboard snapshots.
//
// The `dashboard` topic's patches carry each check (`last_check`) but not the rollups, counts
// or uptimes folded from many checks: those come with snapshots only. So every check the
// feed brings is added here to the hour it fell in, keyed by the card's rollups object,
// which keeps its identity until the next snapshot replaces it (and these additions).

import { live } from '../lib/live.js';

/** A card's `rollups` object → Map(hour start in s → `{checks, up, latency_sum_ms}`) of checks since. */
const added = new WeakMap();

/** Adds the checks of dashboard update frames to their monitors' hours. */
function fold(topic, frames) {
  if (!frames) return;
  for (const frame of frames) {
    const patches = frame.data?.monitors;
    if (!patches) continue;
    for (const id of Object.keys(patches)) {
      const check = patches[id]?.last_check;
      const rollups = topic.data?.monitors?.[id]?.rollups;
      if (!check || !rollups) continue;
      let hours = added.get(rollups);
      if (!hours) added.set(rollups, (hours = new Map()));
      const start = Math.floor(Date.parse(check.at) / 3600000) * 3600;
      const b = hours.get(start) || { checks: 0, up: 0, latency_sum_ms: 0 };
      hours.set(start, { checks: b.checks + 1, up: b.up + (check.ok ? 1 : 0), latency_sum_ms: b.latency_sum_ms + (check.latency_ms || 0) });
    }
  }
}

/** Keeps `fold` watching the dashboard topic whenever the feed runs (sign-out drops every watcher). */
function attach() {
  if (live.state === 'idle' || live.state === 'stopped') return;
  if (live.topics.get('dashboard')?.listeners.has(fold)) return;
  live.watch('dashboard', fold);
}
live.onState(attach);
attach();

/** A monitor card's hourly buckets (`{start, checks, up, latency_sum_ms}`) with the checks seen since its snapshot. */
export function hourlyOf(card) {
  const base = card.rollups?.hourly || [];
  const hours = card.rollups && added.get(card.rollups);
  if (!hours) return base;
  const byStart = new Map(base.map((b) => [b.start, b]));
  for (const [start, a] of hours) {
    const b = byStart.get(start);
    byStart.set(start, b ? { start, checks: b.checks + a.checks, up: b.up + a.up, latency_sum_ms: b.latency_sum_ms + a.latency_sum_ms } : { start, ...a });
  }
  return [...byStart.values()].sort((x, y) => x.start - y.start);
}

/** Uptime (0 to 1, or null) of hourly buckets over the 24 h before the end of `hour`, as the server counts it. */
export function uptime24h(buckets, hour) {
  const from = (hour - 24) * 3600;
  let checks = 0;
  let up = 0;
  for (const b of buckets) {
    if (b.start < from) continue;
    checks += b.checks;
    up += b.up;
  }
  return checks > 0 ? up / checks : null;
}
