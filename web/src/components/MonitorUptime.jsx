// A monitor's uptime per day over 90 days, from the daily rollups the series API answers.

import { useMemo } from 'preact/hooks';
import { get, query } from '../lib/api.js';
import { useLoad } from '../lib/hooks.js';
import { percent } from '../lib/format.js';
import { Note, UptimeBar, dayCells } from './Bits.jsx';

/** Days the bar spans. */
const DAYS = 90;

/** The daily buckets of the last 90 days as `{start (s), checks, up}`. */
async function fetchDays(id) {
  const since = new Date(Date.now() - DAYS * 86400000).toISOString();
  const body = await get(`/monitors/${encodeURIComponent(id)}/series${query({ since })}`);
  return body.points.filter((p) => p.start).map((p) => ({ start: Date.parse(p.start) / 1000, checks: p.checks, up: p.up }));
}

/**
 * The 90-day uptime bar and its overall figure for monitor `id` (created at `createdAt`);
 * `version` changes when it should be read again (a status change).
 */
export function MonitorUptime({ id, createdAt, version }) {
  const days = useLoad(() => fetchDays(id), [id, version]);
  const cells = useMemo(() => (days.data ? dayCells(days.data, Date.now(), DAYS) : []), [days.data]);
  const totals = useMemo(
    () => (days.data || []).reduce((t, b) => ({ checks: t.checks + b.checks, up: t.up + b.up }), { checks: 0, up: 0 }),
    [days.data],
  );
  const oldest = days.data?.[0];
  // Days the monitor existed for but the server no longer keeps figures of.
  const forgotten = oldest && createdAt && Date.parse(createdAt) / 1000 < oldest.start - 86400 && Date.now() / 1000 - oldest.start < (DAYS - 1) * 86400;
  return (
    <section class="panel mon-days" aria-labelledby="mon-days-title">
      <div class="mon-section-head">
        <h2 id="mon-days-title">Uptime, last 90 days</h2>
        {days.data && (
          <p class="mon-figure" data-testid="uptime-90d">
            {totals.checks > 0 ? percent(totals.up / totals.checks, true, 3) : '—'}
            <span class="muted"> over {totals.checks.toLocaleString()} checks</span>
          </p>
        )}
      </div>
      {days.error && <Note kind="error">Could not load the daily uptime: {days.error.message}</Note>}
      {!days.data && !days.error && <Note>Loading the daily uptime…</Note>}
      {days.data && (
        <>
          <UptimeBar cells={cells} label={`Uptime per day, last ${DAYS} days`} />
          <p class="mon-bar-ends muted"><span>{DAYS} days ago</span><span>today (UTC)</span></p>
          {forgotten && (
            <p class="muted mon-small">
              No daily figures before {cells.find((c) => c.uptime !== null)?.label}: the server keeps daily rollups for a limited time, so earlier days show as unchecked.
            </p>
          )}
        </>
      )}
    </section>
  );
}
