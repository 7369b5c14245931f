// Small pieces the alert views share: the subject link and when an alert entered its state.

import { href } from '../lib/router.js';

/** The link to what an alert is about: its monitor or its host. */
export function AlertSubject({ subject }) {
  if (!subject) return <span class="muted">—</span>;
  const path = subject.kind === 'monitor' ? `/monitors/${subject.id}` : subject.kind === 'host' ? `/hosts/${encodeURIComponent(subject.name || subject.id)}` : null;
  const label = `${subject.kind} ${subject.name || subject.id}`;
  return path ? <a href={href(path)}>{label}</a> : <span>{label}</span>;
}

/** When `alert` entered its current state. */
export function alertSince(alert) {
  if (alert.state === 'resolved') return alert.resolved_at;
  if (alert.state === 'acknowledged') return alert.acknowledged_at;
  if (alert.state === 'firing') return alert.fired_at;
  return alert.opened_at;
}
