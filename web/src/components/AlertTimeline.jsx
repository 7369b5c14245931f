// An alert's story as vertical timelines: the events that led to it, and every step since.

import { dateTime, ms } from '../lib/format.js';
import { Status } from './Bits.jsx';

/** Event types in words. */
const WORDS = {
  MonitorWentDown: 'Monitor went down',
  MonitorWentUp: 'Monitor went up',
  MonitorRecovered: 'Monitor recovered',
  HostMetricsReported: 'Host sample reported',
  HostWentStale: 'Host went stale',
  HostRecovered: 'Host recovered',
  HostScrapeFailed: 'Host scrape failed',
  AlertOpened: 'Alert opened',
  AlertFired: 'Alert fired',
  AlertAcknowledged: 'Acknowledged',
  AlertResolved: 'Resolved',
  NotificationRequested: 'Notification requested',
  NotificationSent: 'Notification sent',
  NotificationFailed: 'Notification failed',
};

/** The alert's state after each kind of step (other steps leave it as it was). */
const STATE_AFTER = {
  AlertOpened: 'pending',
  AlertFired: 'firing',
  AlertAcknowledged: 'acknowledged',
  AlertResolved: 'resolved',
};

/** An event type in words: "Monitor went down"; a check says whether it failed. */
export function eventWords(type, data) {
  if (type === 'MonitorChecked') return data?.ok === false ? 'Check failed' : 'Check passed';
  return WORDS[type] || type.replace(/([a-z])([A-Z])/g, '$1 $2');
}

/** What an event's payload says, in a line: the error, reason or cause, or a check's answer. */
export function eventDetail(type, data) {
  if (!data) return '';
  if (type === 'MonitorChecked') {
    const answer = data.error || (data.status_code ? `status ${data.status_code}` : '');
    const took = data.latency_ms !== null && data.latency_ms !== undefined ? `in ${ms(data.latency_ms)}` : '';
    return [answer, took].filter(Boolean).join(', ');
  }
  return data.error || data.reason || data.cause || data.comment || '';
}

/** The causes (oldest first) followed by the alert's own steps up to its first notification. */
function causes(alert) {
  const chain = [...(alert.causation_chain || [])].reverse();
  const seen = new Set(chain.map((c) => c.position));
  const steps = alert.timeline || [];
  const notified = steps.find((s) => s.event === 'NotificationRequested');
  const end = notified ? notified.position : Math.max(0, ...chain.map((c) => c.position));
  const own = steps
    .filter((s) => s.position <= end && !seen.has(s.position))
    .map((s) => ({ position: s.position, at: s.at, type: s.event, detail: s.detail, stream: null }));
  const mapped = chain.map((c) => (c.expired
    ? { position: c.position, expired: true }
    : { position: c.position, at: c.at, type: c.type, data: c.data, detail: eventDetail(c.type, c.data), stream: c.stream }));
  return [...mapped, ...own].sort((a, b) => a.position - b.position);
}

/**
 * The causation chain of `alert` (the API's alert with `causation_chain` and `timeline`):
 * check, then what it changed, then the alert opening, firing and notifying.
 */
export function AlertCauses({ alert }) {
  const items = causes(alert);
  if (items.length === 0) return <p class="muted">The log no longer holds what caused it.</p>;
  return (
    <ol class="alert-timeline" aria-label="Causation chain">
      {items.map((c) => (
        <li key={c.position} class={c.type?.startsWith('Alert') || c.type?.startsWith('Notification') ? 'own' : 'cause'}>
          {c.expired ? (
            <p class="muted">Event #{c.position} is no longer in the log (retention).</p>
          ) : (
            <>
              <p class="alert-step-head">
                <strong>{eventWords(c.type, c.data)}</strong>
                <span class="muted mono">#{c.position}</span>
                <time datetime={c.at} class="muted">{dateTime(c.at)}</time>
              </p>
              {c.detail && <p class="alert-step-detail">{c.detail}</p>}
              {c.stream && <p class="muted alert-step-meta">in <span class="mono">{c.stream}</span></p>}
            </>
          )}
        </li>
      ))}
    </ol>
  );
}

/** Every step of `alert`'s timeline: time, the state it left the alert in, what caused it, by whom. */
export function AlertSteps({ alert }) {
  const known = new Map();
  for (const c of alert.causation_chain || []) if (c.type) known.set(c.position, eventWords(c.type, c.data));
  for (const s of alert.timeline || []) known.set(s.position, eventWords(s.event));
  let state = null;
  return (
    <ol class="alert-timeline" aria-label="Timeline">
      {(alert.timeline || []).map((s) => {
        state = STATE_AFTER[s.event] || state;
        return (
          <li key={s.position} class="own" data-testid="alert-step">
            <p class="alert-step-head">
              <strong>{eventWords(s.event)}</strong>
              {state && <Status status={state} />}
              <time datetime={s.at} class="muted">{dateTime(s.at)}</time>
            </p>
            {s.detail && <p class="alert-step-detail">{s.detail}</p>}
            <p class="muted alert-step-meta">
              {s.causation ? <>after #{s.causation}{known.has(s.causation) ? ` (${known.get(s.causation)})` : ''}</> : 'no recorded cause'}
              {' · by '}<span class="mono">{s.actor}</span>
              {' · '}<span class="mono">#{s.position}</span>
            </p>
          </li>
        );
      })}
    </ol>
  );
}
