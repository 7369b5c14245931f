// One alert: what it is about, where it stands, what caused it and every step since.

import { useRef } from 'preact/hooks';
import { get, query } from '../lib/api.js';
import { useLoad, useTopicEvents } from '../lib/hooks.js';
import { href } from '../lib/router.js';
import { can, useSession } from '../lib/session.js';
import { dateTime, duration } from '../lib/format.js';
import { Note, Status } from './Bits.jsx';
import { Ago } from './HostTime.jsx';
import { AlertAck } from './AlertAck.jsx';
import { AlertSubject, alertSince } from './AlertBits.jsx';
import { AlertCauses, AlertSteps } from './AlertTimeline.jsx';

/** The alert page at `#/alerts/<id>`, kept live over the `alerts` topic. */
export function AlertDetail({ id }) {
  const { me } = useSession();
  const minPosition = useRef(null);
  const heading = useRef(null);
  const alert = useLoad(() => get(`/alerts/${encodeURIComponent(id)}${query({ min_position: minPosition.current })}`), [id]);

  const reloadAt = (position) => {
    minPosition.current = position;
    alert.reload();
  };
  useTopicEvents('alerts', (updates, topic) => {
    if (updates === null || updates.some((u) => u.data?.alert_id === id)) reloadAt(topic.position);
  });

  const back = <p class="alert-crumbs"><a href={href('/alerts')}>← All alerts</a></p>;
  if (alert.error?.status === 404) {
    return <>{back}<h1>Alert</h1><Note>There is no alert with the id {id}.</Note></>;
  }
  const a = alert.data;
  if (!a) {
    return <>{back}<h1>Alert</h1>{alert.error ? <Note kind="error">Could not load the alert: {alert.error.message}</Note> : <Note>Loading…</Note>}</>;
  }
  const opened = new Date(a.opened_at).getTime();
  const ended = a.resolved_at ? new Date(a.resolved_at).getTime() : null;
  return (
    <>
      {back}
      <div class="alert-head">
        <h1 ref={heading} tabIndex={-1}>{a.rule}</h1>
        <Status status={a.severity} />
        <span data-testid="alert-state"><Status status={a.state} /></span>
      </div>
      {alert.error && <Note kind="error">Could not refresh the alert: {alert.error.message}</Note>}
      <section class="panel alert-panel" aria-label="Alert facts">
        <dl class="alert-facts">
          <div><dt>Subject</dt><dd><AlertSubject subject={a.subject} /></dd></div>
          <div><dt>Since</dt><dd><Ago time={alertSince(a)} /></dd></div>
          <div><dt>Opened</dt><dd>{dateTime(a.opened_at)}</dd></div>
          <div><dt>Fired</dt><dd>{a.fired_at ? dateTime(a.fired_at) : <span class="muted">not fired</span>}</dd></div>
          {a.acknowledged_at && <div><dt>Acknowledged</dt><dd>{dateTime(a.acknowledged_at)}</dd></div>}
          {ended && <div><dt>Resolved</dt><dd>{dateTime(a.resolved_at)} (after {duration((ended - opened) / 1000)})</dd></div>}
          <div><dt>Notified</dt><dd>{a.notified ? `yes${a.repeats ? `, ${a.repeats} repeats` : ''}` : 'no'}</dd></div>
          <div class="alert-cause"><dt>Cause</dt><dd>{firstCause(a)}</dd></div>
          {a.state === 'resolved' && <div><dt>Resolved because</dt><dd>{a.cause}</dd></div>}
        </dl>
        {a.state === 'firing' && can(me.role, 'operator') && <AlertAck alertId={a.id} onAcked={reloadAt} returnTo={heading} />}
      </section>
      <div class="alert-story">
        <section class="panel alert-panel" aria-labelledby="alert-causes-title">
          <h2 id="alert-causes-title">Causation chain</h2>
          <p class="muted">The events that led to this alert, oldest first.</p>
          <AlertCauses alert={a} />
        </section>
        <section class="panel alert-panel" aria-labelledby="alert-steps-title">
          <h2 id="alert-steps-title">Timeline</h2>
          <p class="muted">Every step of the alert, with the state it left it in.</p>
          <AlertSteps alert={a} />
        </section>
      </div>
    </>
  );
}

/** Why the alert fired (or opened): the first step's detail; `cause` is the latest one. */
function firstCause(a) {
  const steps = a.timeline || [];
  const step = steps.find((s) => s.event === 'AlertFired') || steps.find((s) => s.event === 'AlertOpened');
  return step?.detail || a.cause;
}
