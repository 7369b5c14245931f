// A monitor's live events (topic `monitor:<id>`), split into new check results and the rest.

import { useEffect, useRef } from 'preact/hooks';
import { useTopicEvents } from '../lib/hooks.js';

/** A MonitorChecked update frame as a check result, shaped like `GET /monitors/{id}/checks` items. */
export function checkOfFrame(frame) {
  const d = frame.data || {};
  return {
    at: frame.timestamp,
    position: frame.position,
    ok: d.ok,
    latency_ms: d.latency_ms,
    status_code: d.status_code,
    error: d.error,
    cert_expires_at: d.cert_expires_at,
  };
}

/** A HeartbeatReceived update frame as a check result, as `GET /monitors/{id}/checks` lists heartbeats. */
export function checkOfHeartbeat(frame) {
  const d = frame.data || {};
  return {
    at: frame.timestamp,
    position: frame.position,
    ok: d.up,
    latency_ms: d.ping_ms ?? null,
    status_code: null,
    error: d.up ? null : d.msg ?? 'down',
    heartbeat: true,
    msg: d.msg ?? null,
  };
}

/** Whether an update frame is a check result (a check made, or a push monitor's heartbeat). */
const isCheck = (u) => u.event === 'MonitorChecked' || u.event === 'HeartbeatReceived';

/**
 * Watches monitor `id`: `onChecks(checks)` with each batch's new check results and
 * heartbeats (oldest first), `onEvents(frames)` with its other events (status changes, pauses, edits), and
 * `onReset()` when a fresh snapshot replaces the topic (not the first, which arrives while
 * the view loads anyway).
 */
export function useMonitorFeed(id, { onChecks, onEvents, onReset }) {
  const seen = useRef(false);
  useEffect(() => {
    seen.current = false;
  }, [id]);
  useTopicEvents(id ? `monitor:${id}` : null, (updates) => {
    if (!updates) {
      if (seen.current) onReset?.();
      seen.current = true;
      return;
    }
    const checks = updates.filter(isCheck).map((u) => (u.event === 'HeartbeatReceived' ? checkOfHeartbeat(u) : checkOfFrame(u)));
    const others = updates.filter((u) => !isCheck(u));
    if (checks.length && onChecks) onChecks(checks);
    if (others.length && onEvents) onEvents(others);
  });
}

/** Check results of `lists` merged into one list without repeats (by log position), newest first. */
export function mergeChecks(...lists) {
  const byPosition = new Map();
  for (const list of lists) for (const c of list) byPosition.set(c.position, c);
  return [...byPosition.values()].sort((a, b) => b.position - a.position);
}
