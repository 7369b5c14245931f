// Reading the event log a page at a time: forward from a position (as the API pages), or
// the last page before a position (the latest page when there is none), newest last.

import { get, query } from '../lib/api.js';

/** Events one page of the log view holds. */
export const PAGE = 50;
/** The most events the API answers at once (what the backward search reads per request). */
const BATCH = 1000;

/** One request: `{events, next_after}` after `after`, filtered by `type` and `stream`. */
function fetchAfter(after, limit, { type, stream }) {
  return get(`/events${query({ after, limit, type, stream })}`);
}

/**
 * The page of `PAGE` matching events after position `after`: `{events, nextAfter, first}`
 * (`first`: no matching event comes before it).
 */
export async function pageAfter(after, filters) {
  const body = await fetchAfter(after, PAGE, filters);
  return { events: body.events, nextAfter: body.next_after, first: after === 0 };
}

/** Every matching event after `from` and before position `before` (Infinity: to the end). */
async function collect(from, before, filters) {
  const out = [];
  let cursor = from;
  for (;;) {
    const body = await fetchAfter(cursor, BATCH, filters);
    for (const e of body.events) if (e.position < before) out.push(e);
    const last = body.next_after;
    if (last === null || last === undefined || last >= before - 1 || last <= cursor) return out;
    cursor = last;
  }
}

/**
 * The last `PAGE` matching events before position `before` (Infinity: the latest), oldest
 * first, as `{events, nextAfter: null, first}`. `head` is about where the log ends. The API only reads forward, so this reads
 * a window before `before`, widening it eightfold until it holds a page or reaches the start.
 */
export async function pageBefore(before, head, filters) {
  const top = Number.isFinite(before) ? before - 1 : head;
  let span = PAGE;
  for (;;) {
    const from = Math.max(0, top - span);
    const events = await collect(from, before, filters);
    if (events.length >= PAGE || from === 0) {
      return { events: events.slice(-PAGE), nextAfter: null, first: from === 0 && events.length <= PAGE };
    }
    span *= 8;
  }
}

/** Every matching event after `after`, to the end of the log (the ones that arrived live). */
export function newerThan(after, filters) {
  return collect(after, Infinity, filters);
}

/** Event types the server records, for the type filter's suggestions. */
export const EVENT_TYPES = [
  'SystemInitialized', 'ServerStarted', 'ServerStopped', 'SystemHealthChanged', 'RetentionApplied',
  'TokenCreated', 'TokenRevoked', 'UserCreated', 'UserDeleted', 'SessionOpened', 'SessionClosed',
  'MonitorCreated', 'MonitorUpdated', 'MonitorPaused', 'MonitorResumed', 'MonitorDeleted',
  'MonitorChecked', 'HeartbeatReceived', 'MonitorWentUp', 'MonitorWentDown', 'MonitorRecovered',
  'HostRegistered', 'HostDeleted', 'HostMetricsReported', 'HostWentStale', 'HostRecovered', 'HostScrapeFailed',
  'AlertRuleCreated', 'AlertRuleUpdated', 'AlertRuleDeleted', 'ChannelCreated', 'ChannelDeleted',
  'SilenceCreated', 'SilenceDeleted', 'AlertOpened', 'AlertFired', 'AlertAcknowledged', 'AlertResolved',
  'NotificationRequested', 'NotificationSent', 'NotificationFailed',
  'StatusPageCreated', 'StatusPageUpdated', 'StatusPageDeleted', 'IncidentOpened', 'IncidentUpdated',
  'MaintenanceScheduled', 'MaintenanceUpdated', 'MaintenanceCancelled', 'IncidentEdited',
];

/** Payload fields that say what an event is about, in the order a summary prefers them. */
const TELLING = ['name', 'username', 'hostname', 'rule_name', 'cause', 'reason', 'error', 'comment', 'url', 'role'];

/** A short line about an event: its payload's telling fields, or its first few plain values. */
export function summarize(e) {
  const d = e.data || {};
  if (e.type === 'MonitorChecked') {
    const took = typeof d.latency_ms === 'number' ? ` in ${d.latency_ms.toFixed(d.latency_ms >= 10 ? 0 : 1)} ms` : '';
    return d.ok ? `ok${d.status_code ? `, status ${d.status_code}` : ''}${took}` : `failed: ${d.error || `status ${d.status_code}`}${took}`;
  }
  if (e.type === 'HostMetricsReported') {
    const cpu = typeof d.cpu_percent === 'number' ? `CPU ${d.cpu_percent.toFixed(0)} %` : null;
    const mem = typeof d.memory_percent === 'number' ? `memory ${d.memory_percent.toFixed(0)} %` : null;
    return [d.hostname, [cpu, mem].filter(Boolean).join(', ')].filter(Boolean).join(': ');
  }
  if (/^(StatusPage|Incident|Maintenance)/.test(e.type)) {
    const line = [d.slug, d.title, d.status, d.message].filter((v) => typeof v === 'string' && v).join(' · ');
    return line.length > 140 ? `${line.slice(0, 139)}…` : line;
  }
  const picked = TELLING.filter((k) => typeof d[k] === 'string' && d[k]).map((k) => (k === 'name' || k === 'hostname' || k === 'username' ? d[k] : `${k}: ${d[k]}`));
  const parts = picked.length > 0
    ? picked
    : Object.entries(d).filter(([, v]) => v !== null && typeof v !== 'object').slice(0, 3).map(([k, v]) => `${k}: ${v}`);
  const line = parts.join(' · ');
  return line.length > 140 ? `${line.slice(0, 139)}…` : line;
}
