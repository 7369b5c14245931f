// Alerts: the open ones live (with acknowledgement for operators), the resolved history,
// and one alert's page with its causation chain and timeline.

import { useRef, useState } from 'preact/hooks';
import { get, query } from '../lib/api.js';
import { useLoad, useTopicEvents } from '../lib/hooks.js';
import { href } from '../lib/router.js';
import { can, useSession } from '../lib/session.js';
import { dateTime, duration } from '../lib/format.js';
import { Note, Status } from '../components/Bits.jsx';
import { Ago } from '../components/HostTime.jsx';
import { AlertAck } from '../components/AlertAck.jsx';
import { AlertSubject, alertSince } from '../components/AlertBits.jsx';
import { AlertDetail } from '../components/AlertDetail.jsx';
import './alerts.css';

/** Resolved alerts one "Load more" adds. */
const PAGE = 50;
/** The most alerts the API answers at once. */
const MAX_ALERTS = 1000;

/** The Alerts view at `#/alerts`, or one alert at `#/alerts/<id>`. */
export function Alerts({ id }) {
  if (id) return <AlertDetail id={id} />;
  return <AlertsList />;
}

/** The open alerts and the history, both kept live over the `alerts` topic. */
function AlertsList() {
  const { me } = useSession();
  const minPosition = useRef(null);
  const [limit, setLimit] = useState(PAGE);
  const active = useLoad(() => get(`/alerts${query({ state: 'pending,firing,acknowledged', min_position: minPosition.current })}`), []);
  const history = useLoad(() => get(`/alerts${query({ state: 'resolved', limit, min_position: minPosition.current })}`), [limit]);

  const reloadAt = (position, withHistory = false) => {
    minPosition.current = position;
    active.reload();
    if (withHistory) history.reload();
  };
  useTopicEvents('alerts', (updates, topic) => {
    reloadAt(topic.position, updates === null || updates.some((u) => u.event === 'AlertResolved'));
  });

  const canAck = can(me.role, 'operator');
  return (
    <>
      <h1>Alerts</h1>
      <section class="panel alert-panel" aria-labelledby="alerts-active-title">
        <h2 id="alerts-active-title">Active</h2>
        {active.error && <Note kind="error">Could not load the open alerts: {active.error.message}</Note>}
        {!active.data && !active.error && <Note>Loading…</Note>}
        {active.data && active.data.alerts.length === 0 && <Note>No open alerts: nothing is pending, firing or acknowledged.</Note>}
        {active.data && active.data.alerts.length > 0 && (
          <ul class="alert-list">
            {active.data.alerts.map((a) => <AlertRow key={a.id} alert={a} canAck={canAck} onAcked={(p) => reloadAt(p)} />)}
          </ul>
        )}
      </section>
      <section class="panel alert-panel" aria-labelledby="alerts-history-title">
        <h2 id="alerts-history-title">History</h2>
        <AlertHistory load={history} limit={limit} onMore={() => setLimit(Math.min(MAX_ALERTS, limit + PAGE))} />
      </section>
    </>
  );
}

/** One open alert: severity, rule, subject, state and since, the cause, and the acknowledgement. */
function AlertRow({ alert, canAck, onAcked }) {
  const row = useRef(null);
  return (
    <li ref={row} tabIndex={-1} class={`alert-row alert-${alert.state}`} data-testid="alert-row" data-state={alert.state} data-alert-id={alert.id}>
      <div class="alert-row-main">
        <p class="alert-row-title">
          <Status status={alert.severity} />
          <a href={href(`/alerts/${alert.id}`)} class="alert-rule">{alert.rule}</a>
          <span class="muted">on</span>
          <AlertSubject subject={alert.subject} />
        </p>
        <p class="alert-row-state">
          <Status status={alert.state} />
          <span class="muted">since <Ago time={alertSince(alert)} /></span>
        </p>
        <p class="alert-row-cause">{alert.cause}</p>
      </div>
      {canAck && alert.state === 'firing' && (
        <div class="alert-row-actions">
          <AlertAck alertId={alert.id} onAcked={onAcked} returnTo={row} />
        </div>
      )}
    </li>
  );
}

/** The resolved alerts, newest first, with "Load more". */
function AlertHistory({ load, limit, onMore }) {
  const { data, error, loading } = load;
  if (error && !data) return <Note kind="error">Could not load the history: {error.message}</Note>;
  if (!data) return <Note>Loading…</Note>;
  if (data.alerts.length === 0) return <Note>No resolved alerts yet.</Note>;
  return (
    <>
      {error && <Note kind="error">Could not load more: {error.message}</Note>}
      <div class="table-wrap">
        <table class="alert-history">
          <thead>
            <tr>
              <th scope="col">Severity</th>
              <th scope="col">Rule</th>
              <th scope="col">Subject</th>
              <th scope="col">Opened</th>
              <th scope="col">Resolved</th>
              <th scope="col" class="num">Lasted</th>
              <th scope="col">Resolved because</th>
            </tr>
          </thead>
          <tbody>
            {data.alerts.map((a) => (
              <tr key={a.id} data-testid="alert-history-row">
                <td><Status status={a.severity} /></td>
                <td><a href={href(`/alerts/${a.id}`)}>{a.rule}</a></td>
                <td><AlertSubject subject={a.subject} /></td>
                <td class="nowrap">{dateTime(a.opened_at)}</td>
                <td class="nowrap">{dateTime(a.resolved_at)}</td>
                <td class="num nowrap">{duration((new Date(a.resolved_at) - new Date(a.opened_at)) / 1000)}</td>
                <td>{a.cause}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {data.alerts.length >= limit && limit < MAX_ALERTS && (
        <div class="row alert-more">
          <button type="button" onClick={onMore} disabled={loading}>{loading ? 'Loading…' : 'Load more'}</button>
        </div>
      )}
    </>
  );
}
