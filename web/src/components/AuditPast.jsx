// The dashboard as it was at a past time or log position, folded from the log by the server.

import { useEffect, useState } from 'preact/hooks';
import { get, query } from '../lib/api.js';
import { useLoad } from '../lib/hooks.js';
import { dateTime } from '../lib/format.js';
import { Note } from './Bits.jsx';
import { DashboardView } from '../views/Overview.jsx';

/** Whether `at` names a log position rather than a time. */
const isPosition = (at) => /^\d+$/.test(at || '');

/** An RFC 3339 time as a `datetime-local` value in the viewer's zone, to the second. */
function toLocalInput(at) {
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A `datetime-local` value (the viewer's zone) as an RFC 3339 time in UTC. */
function toUtc(local) {
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? null : d.toISOString().replace(/\.000Z$/, 'Z');
}

/**
 * The "as it was at" section: `at` (from the URL) is an RFC 3339 time or a position;
 * `onAt(value)` puts a new one in the URL (undefined: back to none).
 */
export function AuditPast({ at, onAt }) {
  const [when, setWhen] = useState('');
  const [position, setPosition] = useState('');
  const [error, setError] = useState(null);
  useEffect(() => {
    setWhen(at && !isPosition(at) ? toLocalInput(at) : '');
    setPosition(isPosition(at) ? at : '');
  }, [at]);

  const submit = (e) => {
    e.preventDefault();
    setError(null);
    if (position.trim()) {
      if (!isPosition(position.trim())) return setError('A position is a whole number, such as 1200.');
      return onAt(position.trim());
    }
    const utc = toUtc(when);
    if (!utc) return setError('Pick a date and time, or give a log position.');
    return onAt(utc);
  };

  return (
    <>
      <form class="audit-past-form" onSubmit={submit} aria-label="Show the dashboard as it was" noValidate>
        <div class="field">
          <label for="audit-at">Dashboard as it was at</label>
          <input id="audit-at" type="datetime-local" step="1" value={when} onInput={(e) => setWhen(e.currentTarget.value)} aria-describedby="audit-at-hint" />
          <small id="audit-at-hint" class="hint">In your time zone ({Intl.DateTimeFormat().resolvedOptions().timeZone}).</small>
        </div>
        <div class="field audit-position">
          <label for="audit-position">Or at log position</label>
          <input id="audit-position" inputMode="numeric" placeholder="e.g. 1200" value={position} onInput={(e) => setPosition(e.currentTarget.value)} />
        </div>
        <div class="row audit-past-actions">
          <button type="submit" class="primary">Show</button>
          {at && <button type="button" onClick={() => onAt(undefined)}>Clear</button>}
        </div>
        {error && <p class="form-error audit-past-error" role="alert">{error}</p>}
      </form>
      {at && <AuditPastView at={at} />}
    </>
  );
}

/** The dashboard the server folded for `at`, read-only, with the position and time it reflects. */
function AuditPastView({ at }) {
  const { data, error, loading } = useLoad(() => get(`/audit/state${query({ at })}`), [at]);
  if (error) return <Note kind="error">Could not rebuild the dashboard for {at}: {error.message}</Note>;
  if (!data || (loading && data.at !== at)) return <Note>Rebuilding the dashboard from the log…</Note>;
  const asked = isPosition(at) ? `position ${at}` : dateTime(at);
  return (
    <div class="audit-past-view">
      <p class="audit-past-line" data-testid="audit-past-line">
        As it was at {asked}: the log up to position <strong>{data.position}</strong>
        {data.state?.as_of ? <>, whose last event was recorded {dateTime(data.state.as_of)}</> : ' (nothing had been recorded yet)'}.
      </p>
      <DashboardView data={data.state} readOnly />
    </div>
  );
}
