// A monitor's check log: newest first, 50 at a time with "Load older", new checks added live.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { get, query } from '../lib/api.js';
import { dateTime, ms } from '../lib/format.js';
import { Note } from './Bits.jsx';
import { mergeChecks, useMonitorFeed } from './MonitorFeed.jsx';

/** Checks per page of the log. */
const PAGE = 50;

/** The newest page of checks (or the page before `until`). */
const fetchPage = (id, until) => get(`/monitors/${encodeURIComponent(id)}/checks${query({ limit: PAGE, until })}`).then((b) => b.checks);

/**
 * The check log of monitor `id`: the newest `limit` checks of those held (the pages loaded
 * and the checks seen live since), so new checks push the oldest shown off the end.
 */
export function MonitorCheckLog({ id }) {
  const [log, setLog] = useState({ loaded: null, live: [], limit: PAGE, error: null, busy: false, end: false });
  const seq = useRef(0);

  const loadFirst = (clear) => {
    const mine = ++seq.current;
    setLog((l) => ({ ...l, ...(clear ? { loaded: null, limit: PAGE } : {}), live: [], busy: true, error: null }));
    fetchPage(id).then(
      (checks) => mine === seq.current && setLog((l) => ({ ...l, loaded: checks, busy: false, end: checks.length < PAGE })),
      (error) => mine === seq.current && setLog((l) => ({ ...l, busy: false, error })),
    );
  };
  useEffect(() => loadFirst(true), [id]);

  useMonitorFeed(id, {
    onChecks: (checks) => setLog((l) => ({ ...l, live: [...l.live, ...checks] })),
    onReset: () => loadFirst(false),
  });

  const all = useMemo(() => mergeChecks(log.loaded || [], log.live), [log.loaded, log.live]);
  const rows = all.slice(0, log.limit);
  const more = all.length > log.limit || !log.end;

  const loadOlder = () => {
    if (all.length >= log.limit + PAGE || log.end) {
      setLog((l) => ({ ...l, limit: l.limit + PAGE }));
      return;
    }
    const oldest = all[all.length - 1];
    const mine = seq.current;
    setLog((l) => ({ ...l, busy: true, error: null }));
    fetchPage(id, oldest.at).then(
      (checks) => {
        if (mine !== seq.current) return;
        const older = checks.filter((c) => c.position < oldest.position);
        setLog((l) => ({ ...l, loaded: [...l.loaded, ...older], limit: l.limit + PAGE, busy: false, end: checks.length < PAGE || older.length === 0 }));
      },
      (error) => mine === seq.current && setLog((l) => ({ ...l, busy: false, error })),
    );
  };

  return (
    <section class="panel" aria-labelledby="mon-log-title">
      <h2 id="mon-log-title">Check log</h2>
      {log.error && <Note kind="error">Could not load the checks: {log.error.message}</Note>}
      {log.loaded === null && !log.error && <Note>Loading the checks…</Note>}
      {log.loaded !== null && rows.length === 0 && <Note>No checks yet: each result shows here as it is made.</Note>}
      {rows.length > 0 && (
        <div class="table-wrap">
          <table class="mon-log" data-testid="check-log">
            <thead>
              <tr><th>Time</th><th>Result</th><th class="num">Latency</th><th class="num">Status code</th><th>Error</th></tr>
            </thead>
            <tbody>
              {rows.map((c) => <CheckRow key={c.position} check={c} />)}
            </tbody>
          </table>
        </div>
      )}
      {rows.length > 0 && (
        <p class="mon-more">
          {more ? (
            <button type="button" onClick={loadOlder} disabled={log.busy}>{log.busy ? 'Loading…' : 'Load older'}</button>
          ) : (
            <span class="muted">No older checks.</span>
          )}
        </p>
      )}
    </section>
  );
}

/** One check result. */
function CheckRow({ check }) {
  return (
    <tr data-testid="check-row" data-ok={String(!!check.ok)}>
      <td class="mon-nowrap"><time datetime={check.at}>{dateTime(check.at)}</time></td>
      <td><span class={`status ${check.ok ? 'status-up' : 'status-down'}`}>{check.ok ? 'pass' : 'fail'}</span></td>
      <td class="num">{ms(check.latency_ms)}</td>
      <td class="num">{check.status_code ?? '—'}</td>
      <td class="mon-error">{check.error || <span class="muted">—</span>}</td>
    </tr>
  );
}
