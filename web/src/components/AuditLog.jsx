// The event log (admin): filters, pages newest first, rows that open to their JSON, new
// events arriving at the top while the latest page is shown, and the chain check.

import { useEffect, useRef, useState } from 'preact/hooks';
import { get } from '../lib/api.js';
import { live } from '../lib/live.js';
import { useLoad, useThrottle, useTopicEvents } from '../lib/hooks.js';
import { navigate } from '../lib/router.js';
import { can, useSession } from '../lib/session.js';
import { dateTime } from '../lib/format.js';
import { Note } from './Bits.jsx';
import { EVENT_TYPES, newerThan, pageAfter, pageBefore, summarize } from './AuditEvents.jsx';

/** Live arrivals kept on the latest page before the oldest are let go. */
const MAX_ARRIVED = 500;
/** The least time between two reads of new events while they stream in. */
const ARRIVALS_EVERY_MS = 5000;

/** Where the log ends now, about: the live dashboard's position, else the API's. */
async function logHead() {
  const known = live.peek('dashboard')?.position;
  if (typeof known === 'number') return known;
  return (await get('/dashboard')).position;
}

/** Loads the page `params` name: after a position, before one, or the latest. */
async function loadPage({ after, before, type, stream }) {
  const filters = { type, stream };
  if (after !== undefined) {
    const page = await pageAfter(Number(after), filters);
    return { ...page, live: page.nextAfter === null };
  }
  if (before !== undefined) return { ...(await pageBefore(Number(before), 0, filters)), live: false };
  return { ...(await pageBefore(Infinity, await logHead(), filters)), live: true };
}

/** The event log section; `params` holds `type`, `stream`, `after` or `before` from the URL. */
export function AuditLog({ params }) {
  const { me } = useSession();
  const isAdmin = can(me.role, 'admin');
  const { type, stream, after, before } = params;
  const page = useLoad(() => loadPage({ after, before, type, stream }), [after, before, type, stream]);
  const arrived = useArrivals(page.data, { type, stream }, isAdmin);
  const [open, setOpen] = useState(() => new Set());

  const go = (next) => navigate('/audit', clean({ ...params, after: undefined, before: undefined, ...next }));
  const toggle = (position) => setOpen((s) => {
    const n = new Set(s);
    if (n.has(position)) n.delete(position);
    else n.add(position);
    return n;
  });

  if (page.error?.status === 403) {
    return <Note>The event log is for admins only; you are signed in as {me.role}. The dashboard as it was at a past time (above) is open to every role.</Note>;
  }
  const events = page.data ? [...page.data.events, ...arrived].reverse() : [];
  const newest = events[0]?.position;
  const oldest = events[events.length - 1]?.position;
  const hasNewer = page.data && !page.data.live;
  const hasOlder = page.data && !page.data.first;
  const latest = after === undefined && before === undefined;

  return (
    <>
      <AuditFilters type={type} stream={stream} onApply={(f) => navigate('/audit', clean({ at: params.at, ...f }))} />
      <nav class="row audit-pages" aria-label="Event log pages">
        <button type="button" onClick={() => go({})} disabled={latest}>Latest</button>
        <button type="button" onClick={() => go({ before: oldest ?? Number(after) + 1 })} disabled={!hasOlder}>Older page</button>
        <button type="button" onClick={() => go({ after: page.data.nextAfter ?? newest })} disabled={!hasNewer}>Next page</button>
      </nav>
      {page.error && <Note kind="error">Could not read the log: {page.error.message}</Note>}
      {!page.data && !page.error && <Note>Loading…</Note>}
      {page.data && (
        <p class="muted audit-range" aria-live="polite">
          {events.length === 0
            ? 'No events match here.'
            : `Events #${oldest} to #${newest}, newest first${page.data.live ? '; new ones appear at the top as they are recorded' : ''}.`}
          {page.loading && ' Loading…'}
        </p>
      )}
      {events.length > 0 && (
        <div class="table-wrap">
          <table class="audit-table">
            <thead>
              <tr>
                <th scope="col" class="num">Position</th>
                <th scope="col">Time</th>
                <th scope="col">Type</th>
                <th scope="col">Stream</th>
                <th scope="col">By</th>
                <th scope="col">Summary</th>
                <th scope="col"><span class="audit-sr">Details</span></th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <AuditRow key={e.position} event={e} open={open.has(e.position)} onToggle={() => toggle(e.position)} fresh={arrived.includes(e)} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

/** `params` without its empty values, for the URL. */
function clean(params) {
  return Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''));
}

/**
 * Whether a live update frame may be one the filters keep. Frames have no stream, so it
 * is told from the payload where that is sure (monitor, host and alert events), else kept.
 */
function mayMatch(u, { type, stream }) {
  if (type && u.event !== type) return false;
  if (!stream) return true;
  const d = u.data || {};
  let of = null;
  if (typeof d.monitor_id === 'string') of = `monitor-${d.monitor_id}`;
  else if (typeof d.hostname === 'string') of = `host-${d.hostname}`;
  else if (typeof d.alert_id === 'string' && u.event.startsWith('Alert')) of = `alert-${d.alert_id}`;
  return of === null || of.toLowerCase() === stream.toLowerCase();
}

/**
 * The events recorded after the page was read, while it is the latest page: read again
 * (with the page's filters) when the `events` topic tells of new ones that may match, at
 * most once every few seconds.
 */
function useArrivals(data, filters, isAdmin) {
  const [arrived, setArrived] = useState([]);
  const newest = useRef(0);
  const busy = useRef(false);
  const again = useRef(false);
  useEffect(() => {
    setArrived([]);
    newest.current = data?.events.length ? data.events[data.events.length - 1].position : 0;
  }, [data]);

  const fetchNew = async () => {
    if (busy.current) {
      again.current = true;
      return;
    }
    busy.current = true;
    try {
      const from = newest.current;
      const fresh = (await newerThan(from, filters)).filter((e) => e.position > newest.current);
      if (fresh.length > 0) {
        newest.current = fresh[fresh.length - 1].position;
        setArrived((a) => [...a, ...fresh].slice(-MAX_ARRIVED));
      }
    } catch {
      // The next live event tries again; the page itself shows what it read.
    } finally {
      busy.current = false;
      if (again.current) {
        again.current = false;
        fetchNew();
      }
    }
  };

  const fetchSoon = useThrottle(() => data?.live && fetchNew(), ARRIVALS_EVERY_MS);
  useTopicEvents(isAdmin ? 'events' : null, (updates) => {
    if (!updates || !data?.live) return;
    if (!updates.some((u) => mayMatch(u, filters))) return;
    fetchSoon();
  });
  return arrived;
}

/** One event's row, and under it its full JSON when opened. */
function AuditRow({ event: e, open, onToggle, fresh }) {
  const detailId = `audit-event-${e.position}`;
  return (
    <>
      <tr class={fresh ? 'audit-fresh' : undefined} data-testid="audit-row" data-position={e.position} data-type={e.type}>
        <td class="num mono audit-pos">{e.position}</td>
        <td class="nowrap audit-time"><time datetime={e.timestamp}>{dateTime(e.timestamp)}</time></td>
        <td class="mono audit-type">{e.type}</td>
        <td class="mono audit-stream">{e.stream}</td>
        <td class="mono audit-actor">{e.actor}</td>
        <td class="audit-summary">{summarize(e)}</td>
        <td class="audit-act">
          <button type="button" class="audit-toggle" aria-expanded={open ? 'true' : 'false'} aria-controls={open ? detailId : undefined} onClick={onToggle}>
            {open ? 'Hide' : 'Details'}<span class="audit-sr"> of event {e.position}</span>
          </button>
        </td>
      </tr>
      {open && (
        <tr class="audit-detail">
          <td colSpan={7} id={detailId}>
            <pre class="mono" tabIndex={0} aria-label={`Event ${e.position} as JSON`}>{JSON.stringify(e, null, 2)}</pre>
          </td>
        </tr>
      )}
    </>
  );
}

/** The "Type" and "Stream" filters; `onApply({type, stream})` on submit. */
function AuditFilters({ type = '', stream = '', onApply }) {
  const [values, setValues] = useState({ type, stream });
  useEffect(() => setValues({ type, stream }), [type, stream]);
  const set = (name) => (e) => setValues({ ...values, [name]: e.currentTarget.value });
  const submit = (e) => {
    e.preventDefault();
    onApply({ type: values.type.trim(), stream: values.stream.trim() });
  };
  return (
    <form class="audit-filters" role="search" aria-label="Filter the event log" onSubmit={submit}>
      <div class="field">
        <label for="audit-type">Type</label>
        <input id="audit-type" name="type" list="audit-types" placeholder="any type, e.g. MonitorWentDown" value={values.type} onInput={set('type')} autocomplete="off" />
        <datalist id="audit-types">{EVENT_TYPES.map((t) => <option key={t} value={t} />)}</datalist>
      </div>
      <div class="field">
        <label for="audit-stream">Stream</label>
        <input id="audit-stream" name="stream" placeholder="any stream, e.g. monitor-<id>" value={values.stream} onInput={set('stream')} autocomplete="off" />
      </div>
      <div class="row audit-filter-actions">
        <button type="submit" class="primary">Filter</button>
        {(type || stream) && <button type="button" onClick={() => onApply({})}>Clear filters</button>}
      </div>
    </form>
  );
}

/** The "Verify log" button: the hash-chain check (open to every role) and its verdict. */
export function AuditVerify() {
  const [state, setState] = useState({ busy: false, result: null, error: null });
  const run = async () => {
    setState({ busy: true, result: null, error: null });
    try {
      setState({ busy: false, result: await get('/audit/verify'), error: null });
    } catch (e) {
      setState({ busy: false, result: null, error: e.message });
    }
  };
  const r = state.result;
  return (
    <div class="row audit-verify">
      <button type="button" onClick={run} disabled={state.busy}>{state.busy ? 'Verifying…' : 'Verify log'}</button>
      <span role="status" data-testid="audit-verify-result" class={r && !r.intact ? 'note-error' : r ? 'audit-intact' : 'note-error'}>
        {r && r.intact && `Intact: ${r.checked.toLocaleString()} events checked, up to #${r.last_position}.`}
        {r && !r.intact && `Broken at #${r.problem?.position}: ${r.problem?.reason} (${r.checked.toLocaleString()} events checked).`}
        {state.error && `Could not verify: ${state.error}`}
      </span>
    </div>
  );
}
