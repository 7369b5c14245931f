// A monitor's latency chart over a chosen range: raw checks for 1 h and 24 h (live), rollups beyond.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { get, query } from '../lib/api.js';
import { dateTime, ms } from '../lib/format.js';
import { Chart } from './Chart.jsx';
import { Note } from './Bits.jsx';
import { mergeChecks, useMonitorFeed } from './MonitorFeed.jsx';

/** The ranges of the latency chart: `raw` ones plot each check, the others mean latency per bucket. */
export const RANGES = [
  { key: '1h', label: '1 h', seconds: 3600, raw: true },
  { key: '24h', label: '24 h', seconds: 86400, raw: true },
  { key: '7d', label: '7 d', seconds: 7 * 86400, raw: false },
  { key: '30d', label: '30 d', seconds: 30 * 86400, raw: false },
];

/** The range named by `key`, else 1 h. */
export function rangeOf(key) {
  return RANGES.find((r) => r.key === key) || RANGES[0];
}

/** Checks per request, and the most requests for one raw range (so 1 s checks fill an hour). */
const CHECKS_PER_PAGE = 1000;
const MAX_PAGES = 4;

/** The checks of the last `seconds`, newest first, paging back with `until`; `truncated` when there were more. */
async function fetchChecks(id, seconds) {
  const since = new Date(Date.now() - seconds * 1000).toISOString();
  let checks = [];
  let until;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const body = await get(`/monitors/${encodeURIComponent(id)}/checks${query({ since, until, limit: CHECKS_PER_PAGE })}`);
    checks = mergeChecks(checks, body.checks);
    if (body.checks.length < CHECKS_PER_PAGE) return { checks, truncated: false };
    until = checks[checks.length - 1].at;
  }
  return { checks, truncated: true };
}

/** Mean latency per rollup bucket over the last `seconds`: `{points: [{t, latency}], resolution}`. */
async function fetchBuckets(id, seconds) {
  const since = new Date(Date.now() - seconds * 1000).toISOString();
  const body = await get(`/monitors/${encodeURIComponent(id)}/series${query({ since })}`);
  const points = body.points
    .filter((p) => p.start)
    .map((p) => ({ t: Date.parse(p.start) / 1000, latency: p.checks > 0 ? p.avg_latency_ms ?? null : null }));
  return { points, resolution: body.resolution };
}

/** The chart's x values and series from checks (newest first) that are newer than `from` (seconds). */
function checkSeries(checks, from) {
  const shown = checks.filter((c) => Date.parse(c.at) / 1000 >= from).reverse();
  return {
    x: shown.map((c) => Date.parse(c.at) / 1000),
    series: [
      { label: 'Latency', values: shown.map((c) => (c.ok ? c.latency_ms : null)) },
      { label: 'Failed check', values: shown.map((c) => (c.ok ? null : c.latency_ms ?? 0)), color: '--bad', dots: true },
    ],
  };
}

/**
 * The latency section of monitor `id`: the range picker (`rangeKey`, `onRange(key)` puts
 * it in the URL) and the chart; raw ranges add each check as it arrives.
 */
export function MonitorLatency({ id, rangeKey, onRange }) {
  const range = rangeOf(rangeKey);
  // `data` is what was loaded for `of` (the id and range), so a render before a reload never mixes them.
  const [state, setState] = useState({ of: null, data: null, live: [], error: null });
  const seq = useRef(0);
  const of = `${id} ${range.key}`;

  const load = (clear) => {
    const mine = ++seq.current;
    setState((s) => ({ of, data: clear ? null : s.data, live: [], error: null }));
    (range.raw ? fetchChecks(id, range.seconds) : fetchBuckets(id, range.seconds)).then(
      (data) => mine === seq.current && setState((s) => ({ ...s, data })),
      (error) => mine === seq.current && setState((s) => ({ ...s, error })),
    );
  };
  useEffect(() => load(true), [id, range.key]);

  useMonitorFeed(id, {
    onChecks: (checks) => range.raw && setState((s) => ({ ...s, live: [...s.live, ...checks] })),
    onReset: () => load(false),
  });

  const current = state.of === of;
  const data = current ? state.data : null;
  return (
    <section class="panel" aria-labelledby="mon-latency-title">
      <div class="mon-section-head">
        <h2 id="mon-latency-title">Latency</h2>
        <div class="mon-range">
          <label for="mon-range">Range</label>
          <select id="mon-range" value={range.key} onChange={(e) => onRange(e.currentTarget.value)}>
            {RANGES.map((r) => <option key={r.key} value={r.key}>{r.label}</option>)}
          </select>
        </div>
      </div>
      {current && state.error && <Note kind="error">Could not load the latency: {state.error.message}</Note>}
      {!data && !(current && state.error) && <Note>Loading the latency…</Note>}
      {data && (range.raw ? <CheckChart data={data} live={state.live} range={range} /> : <BucketChart data={data} range={range} />)}
    </section>
  );
}

/** Each check of a raw range, failed ones as dots. */
function CheckChart({ data, live, range }) {
  const checks = useMemo(() => mergeChecks(data.checks, live), [data.checks, live]);
  const from = Date.now() / 1000 - range.seconds;
  const { x, series } = useMemo(() => checkSeries(checks, from), [checks]);
  if (x.length === 0) return <Note>No checks in the last {range.label}.</Note>;
  const failed = series[1].values.filter((v) => v !== null).length;
  return (
    <>
      <p class="mon-chart-line muted">
        {x.length.toLocaleString()} checks, {failed.toLocaleString()} failed
        {data.truncated && <>; the newest {data.checks.length.toLocaleString()} loaded, from {dateTime(data.checks[data.checks.length - 1].at)}</>}.
      </p>
      <Chart x={x} series={series} format={ms} title={`Latency per check, last ${range.label}`} />
    </>
  );
}

/** Mean latency per rollup bucket. */
function BucketChart({ data, range }) {
  const { x, series } = useMemo(
    () => ({ x: data.points.map((p) => p.t), series: [{ label: 'Mean latency', values: data.points.map((p) => p.latency) }] }),
    [data],
  );
  if (x.length === 0) return <Note>No checks in the last {range.label}.</Note>;
  return (
    <>
      <p class="mon-chart-line muted">Mean latency per {data.resolution === 'day' ? 'day (UTC)' : data.resolution}.</p>
      <Chart x={x} series={series} format={ms} title={`Mean latency, last ${range.label}`} />
    </>
  );
}
