// A host's history: the range picker and one chart per figure, from the series API.

import { useMemo } from 'preact/hooks';
import { get, query } from '../lib/api.js';
import { useLoad, useThrottle } from '../lib/hooks.js';
import { Chart } from './Chart.jsx';
import { Note } from './Bits.jsx';

/** The ranges a host's charts can span, with the rollup step each reads. */
export const RANGES = [
  { key: '1h', label: '1 h', seconds: 3600, step: '1m', stepS: 60 },
  { key: '6h', label: '6 h', seconds: 6 * 3600, step: '1m', stepS: 60 },
  { key: '24h', label: '24 h', seconds: 86400, step: '5m', stepS: 300 },
  { key: '7d', label: '7 d', seconds: 7 * 86400, step: '1h', stepS: 3600 },
  { key: '30d', label: '30 d', seconds: 30 * 86400, step: '1h', stepS: 3600 },
];

/** The range named by `key`, else the first (1 h). */
export function rangeOf(key) {
  return RANGES.find((r) => r.key === key) || RANGES[0];
}

/** The least time between two reloads of the charts while samples stream in. */
const REFRESH_MS = 5000;

const pct = (v) => `${v.toFixed(v >= 10 ? 0 : 1)} %`;
const RATE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** A rate short enough for an axis label: "59 KiB/s", "1.5 MiB/s". */
function shortRate(value) {
  let v = value;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < RATE_UNITS.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 || Math.abs(v) >= 10 ? Math.round(v) : v.toFixed(1)} ${RATE_UNITS[i]}/s`;
}
const PERCENT_RANGE = [0, 100];

/** One fetched series as `{t (seconds), avg}` points. */
async function fetchSeries(hostname, metric, range, untilMs) {
  const since = new Date(untilMs - range.seconds * 1000).toISOString();
  const until = new Date(untilMs).toISOString();
  const body = await get(`/hosts/${encodeURIComponent(hostname)}/series${query({ metric, since, until, step: range.step })}`);
  return body.points.map((p) => ({ t: Date.parse(p.t) / 1000, avg: p.avg }));
}

/** Every metric the charts show for a host with these mountpoints. */
function metricsFor(mountpoints) {
  return [
    'cpu_percent', 'memory_percent', 'load1',
    ...mountpoints.map((m) => `disk_percent:${m}`),
    'net_rx_bytes_per_s', 'net_tx_bytes_per_s', 'disk_read_bytes_per_s', 'disk_write_bytes_per_s',
  ];
}

/**
 * Loads every series over `range` ending now: `{x, values: {metric: [avg|null]}, failed}`,
 * all on one grid of buckets so gaps show as gaps.
 */
async function loadAll(hostname, range, mountpoints) {
  const untilMs = Date.now();
  const first = Math.floor((untilMs / 1000 - range.seconds) / range.stepS) * range.stepS;
  const x = [];
  for (let t = first; t <= untilMs / 1000; t += range.stepS) x.push(t);
  const metrics = metricsFor(mountpoints);
  const answers = await Promise.allSettled(metrics.map((m) => fetchSeries(hostname, m, range, untilMs)));
  const values = {};
  const failed = [];
  answers.forEach((a, i) => {
    if (a.status === 'rejected') {
      failed.push(`${metrics[i]}: ${a.reason.message}`);
      values[metrics[i]] = x.map(() => null);
      return;
    }
    const byT = new Map(a.value.map((p) => [p.t, p.avg]));
    values[metrics[i]] = x.map((t) => byT.get(t) ?? null);
  });
  return { x, values, failed };
}

/** The charts' definitions: title, series (metric and label), value format and y range. */
function chartsFor(mountpoints) {
  return [
    { title: 'CPU', series: [['cpu_percent', 'CPU']], format: pct, yRange: PERCENT_RANGE },
    { title: 'Memory', series: [['memory_percent', 'Memory']], format: pct, yRange: PERCENT_RANGE },
    { title: 'Load', series: [['load1', 'Load (1 min)']], format: (v) => v.toFixed(2) },
    { title: 'Disk', series: mountpoints.map((m) => [`disk_percent:${m}`, m]), format: pct, yRange: PERCENT_RANGE },
    { title: 'Network', series: [['net_rx_bytes_per_s', 'Received'], ['net_tx_bytes_per_s', 'Sent']], format: shortRate },
    { title: 'Disk I/O', series: [['disk_read_bytes_per_s', 'Read'], ['disk_write_bytes_per_s', 'Written']], format: shortRate },
  ];
}

/**
 * The range picker and the charts of `hostname` (its disks: `mountpoints`). `rangeKey` is
 * the chosen range, `onRange(key)` changes it; `refreshRef.current` is set to a function
 * that reloads the charts at most once every few seconds (called on new samples).
 */
export function HostCharts({ hostname, mountpoints, rangeKey, onRange, refreshRef }) {
  const range = rangeOf(rangeKey);
  const mountKey = mountpoints.join('\n');
  const { data, error, loading, reload } = useLoad(() => loadAll(hostname, range, mountpoints), [hostname, range.key, mountKey]);
  const refresh = useThrottle(reload, REFRESH_MS);
  refreshRef.current = refresh;
  const charts = useMemo(() => chartsFor(mountpoints), [mountKey]);

  return (
    <section class="panel host-panel host-history" aria-labelledby="host-history-title">
      <div class="host-history-head">
        <h2 id="host-history-title">History</h2>
        <div class="host-range">
          <label for="host-range">Range</label>
          <select id="host-range" value={range.key} onChange={(e) => onRange(e.currentTarget.value)}>
            {RANGES.map((r) => <option key={r.key} value={r.key}>{r.label}</option>)}
          </select>
          {loading && <span class="muted" aria-live="polite">Loading…</span>}
        </div>
      </div>
      {error && <Note kind="error">Could not load the history: {error.message}</Note>}
      {data?.failed.length > 0 && <Note kind="error">Some series could not be loaded: {data.failed.join('; ')}</Note>}
      {data && (
        <div class="host-charts">
          {charts.map((c) => (
            <HostChart key={c.title} chart={c} x={data.x} values={data.values} />
          ))}
        </div>
      )}
    </section>
  );
}

/** One chart of the history, or a note when its series hold nothing in the range. */
function HostChart({ chart, x, values }) {
  const series = useMemo(
    () => chart.series.map(([metric, label]) => ({ label, values: values[metric] || x.map(() => null) })),
    [chart, x, values],
  );
  const empty = series.every((s) => s.values.every((v) => v === null));
  return (
    <figure class="host-chart">
      <figcaption><h3>{chart.title}</h3></figcaption>
      {series.length === 0 ? (
        <p class="muted">This host reports no disks.</p>
      ) : (
        <>
          <Chart x={x} series={series} format={chart.format} yRange={chart.yRange} title={chart.title} height={180} />
          {empty && <p class="muted host-chart-empty">No samples in this range.</p>}
        </>
      )}
    </figure>
  );
}
