// Small pieces every view shares: status badges, sparklines, uptime bars, gauges, empty states.

import { memo } from 'preact/compat';
import { percent } from '../lib/format.js';

/** A status word with its colour: up, down, pending, paused, stale, firing... */
export function Status({ status }) {
  return <span class={`status status-${status}`}>{status}</span>;
}

/** A latency sparkline from values (nulls skipped), as an inline SVG. */
export const Sparkline = memo(function Sparkline({ values, width = 100, height = 24, label }) {
  const points = values.map((v, i) => [i, v]).filter(([, v]) => v !== null && v !== undefined);
  if (points.length === 0) return <svg class="sparkline" width={width} height={height} aria-label={label || 'no latency yet'} role="img" />;
  const max = Math.max(...points.map(([, v]) => v)) || 1;
  const step = width / Math.max(1, values.length - 1);
  const at = ([i, v]) => [(i * step).toFixed(1), (height - 2 - (v / max) * (height - 4)).toFixed(1)];
  const d = points.map((p, k) => `${k ? 'L' : 'M'}${at(p).join(',')}`).join('');
  // The latest value is marked, so one hour of checks still shows as a dot.
  const [lx, y] = at(points[points.length - 1]);
  const ly = points.length === 1 ? height / 2 : y;
  return (
    <svg class="sparkline" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label || 'latency'}>
      {points.length > 1 && <path d={d} />}
      <circle cx={Math.min(Number(lx), width - 2)} cy={ly} r="2" />
    </svg>
  );
});

/**
 * An uptime bar: one cell per bucket `{label, uptime}` (uptime a fraction, or null when
 * nothing was checked), oldest first.
 */
export const UptimeBar = memo(function UptimeBar({ cells, label }) {
  return (
    <div class="uptime-bar" role="img" aria-label={label}>
      {cells.map((c, i) => (
        <span key={i} class={`cell ${uptimeClass(c.uptime)}`} title={`${c.label}: ${c.uptime === null ? 'no checks' : percent(c.uptime, true, 2)}`} />
      ))}
    </div>
  );
});

/** The colour class of an uptime fraction. */
export function uptimeClass(uptime) {
  if (uptime === null || uptime === undefined) return 'none';
  if (uptime >= 0.999) return 'good';
  if (uptime >= 0.95) return 'fair';
  return 'bad';
}

/** A horizontal gauge for a percentage (0 to 100). */
export const Gauge = memo(function Gauge({ label, value }) {
  const v = value === null || value === undefined ? null : Math.max(0, Math.min(100, value));
  const level = v === null ? 'none' : v >= 90 ? 'bad' : v >= 75 ? 'fair' : 'good';
  return (
    <div class="gauge" title={`${label}: ${percent(v)}`}>
      <span class="gauge-label">{label}</span>
      <span class="gauge-track" role="meter" aria-label={label} aria-valuemin="0" aria-valuemax="100" aria-valuenow={v ?? undefined}>
        <span class={`gauge-fill ${level}`} style={{ width: `${v ?? 0}%` }} />
      </span>
      <span class="gauge-value">{percent(v, false, 0)}</span>
    </div>
  );
});

/** A loading, error or empty note. */
export function Note({ children, kind = 'info' }) {
  return <p class={`note note-${kind}`} role={kind === 'error' ? 'alert' : undefined}>{children}</p>;
}

/** Formatters made once: `toLocaleString` with options builds one per call, too slow for 1,000 rows. */
const HOUR_LABEL = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', day: 'numeric', month: 'short' });
const DAY_LABEL = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' });

/** Hourly buckets `{start, checks, up}` as 24 uptime cells ending at the hour of `asOf`. */
export function hourCells(buckets, asOf, hours = 24) {
  const end = Math.floor((asOf ? new Date(asOf).getTime() : Date.now()) / 3600000) * 3600;
  const byStart = new Map((buckets || []).map((b) => [b.start, b]));
  const cells = [];
  for (let i = hours - 1; i >= 0; i -= 1) {
    const start = end - i * 3600;
    const b = byStart.get(start);
    cells.push({
      label: HOUR_LABEL.format(new Date(start * 1000)),
      uptime: b && b.checks > 0 ? b.up / b.checks : null,
      latency: b && b.checks > 0 ? b.latency_sum_ms / b.checks : null,
    });
  }
  return cells;
}

/** Daily buckets as `days` uptime cells ending at the day of `asOf` (UTC days). */
export function dayCells(buckets, asOf, days = 90) {
  const end = Math.floor((asOf ? new Date(asOf).getTime() : Date.now()) / 86400000) * 86400;
  const byStart = new Map((buckets || []).map((b) => [b.start, b]));
  const cells = [];
  for (let i = days - 1; i >= 0; i -= 1) {
    const start = end - i * 86400;
    const b = byStart.get(start);
    cells.push({
      label: DAY_LABEL.format(new Date(start * 1000)),
      uptime: b && b.checks > 0 ? b.up / b.checks : null,
    });
  }
  return cells;
}
