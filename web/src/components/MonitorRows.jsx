// The overview's monitor list: one memoized row per monitor card, sorted down-first, filterable.

import { useMemo, useState } from 'preact/hooks';
import { memo } from 'preact/compat';
import { href } from '../lib/router.js';
import { ms, percent } from '../lib/format.js';
import { Note, Sparkline, Status, hourCells, uptimeClass } from './Bits.jsx';
import { hourlyOf, uptime24h } from './MonitorRollups.jsx';

/** The statuses the status filter offers. */
const STATUSES = ['up', 'down', 'pending', 'paused'];

/** Monitor ids ordered down first, then by name (then id, so the order is stable). */
function sortedIds(monitors) {
  const keyed = Object.keys(monitors).map((id) => {
    const m = monitors[id];
    return { id, down: m.status === 'down' ? 0 : 1, name: (m.name || '').toLowerCase() };
  });
  keyed.sort((a, b) => a.down - b.down || (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1));
  return keyed.map((k) => k.id);
}

/** Whether a card matches the lower-cased filter text (name, kind or a tag) and the status. */
function matches(card, text, status) {
  if (status && card.status !== status) return false;
  if (!text) return true;
  if ((card.name || '').toLowerCase().includes(text) || card.kind === text) return true;
  return (card.tags || []).some((t) => t.toLowerCase().includes(text));
}

/**
 * Every monitor of `monitors` (cards by id) as a row; `hour` is the hour (since the epoch)
 * the uptime bars end at; `readOnly` leaves out the filters.
 */
export function MonitorRows({ monitors, hour, readOnly }) {
  const [text, setText] = useState('');
  const [status, setStatus] = useState('');
  const order = useMemo(() => sortedIds(monitors), [monitors]);
  const needle = text.trim().toLowerCase();
  const shown = useMemo(
    () => (needle || status ? order.filter((id) => matches(monitors[id], needle, status)) : order),
    [order, needle, status],
  );

  if (order.length === 0) {
    return (
      <Note>
        {readOnly ? 'No monitors then.' : <>No monitors yet. Add one in <a href={href('/settings/monitors')}>Settings</a>.</>}
      </Note>
    );
  }
  return (
    <>
      {!readOnly && (
        <div class="ov-filters" role="search" aria-label="Monitor filters">
          <div class="field">
            <label for="ov-filter">Filter monitors</label>
            <input id="ov-filter" type="search" value={text} placeholder="name, kind or tag" onInput={(e) => setText(e.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="ov-status">Status</label>
            <select id="ov-status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
              <option value="">All</option>
              {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
            </select>
          </div>
          <p class="muted ov-shown" aria-live="polite">{shown.length === order.length ? `${order.length} monitors` : `${shown.length} of ${order.length} monitors`}</p>
        </div>
      )}
      {shown.length === 0 ? (
        <Note>No monitor matches the filter.</Note>
      ) : (
        <div class="ov-monitors" role="table" aria-label="Monitors" aria-rowcount={shown.length + 1}>
          <div role="rowgroup" class="ov-head">
            <div role="row" class="ov-row">
              <span role="columnheader" class="ov-c-status">Status</span>
              <span role="columnheader" class="ov-c-name">Name</span>
              <span role="columnheader" class="ov-c-kind">Kind</span>
              <span role="columnheader" class="ov-c-latency num">Latency</span>
              <span role="columnheader" class="ov-c-spark">24 h trend</span>
              <span role="columnheader" class="ov-c-bar">Last 24 h</span>
              <span role="columnheader" class="ov-c-uptime num">Uptime</span>
            </div>
          </div>
          <div role="rowgroup">
            {shown.map((id) => <MonitorRow key={id} card={monitors[id]} hour={hour} />)}
          </div>
        </div>
      )}
    </>
  );
}

/** One monitor: re-renders only when its card changes (each check does) or the hour turns. */
export const MonitorRow = memo(function MonitorRow({ card, hour }) {
  const hourly = useMemo(() => hourlyOf(card), [card]);
  const cells = useMemo(() => hourCells(hourly, hour * 3600000), [hourly, hour]);
  const latencies = useMemo(() => cells.map((c) => c.latency), [cells]);
  const last = card.last_check;
  return (
    <div role="row" class={`ov-row ov-monitor ov-${card.status}`} data-testid="monitor-row" data-status={card.status} data-id={card.id}>
      <span role="cell" class="ov-c-status"><Status status={card.status} /></span>
      <span role="cell" class="ov-c-name">
        <a href={href(`/monitors/${encodeURIComponent(card.id)}`)}>{card.name}</a>
        {card.status === 'down' && card.down_reason && <small class="ov-reason">{card.down_reason}</small>}
      </span>
      <span role="cell" class="ov-c-kind muted">{card.kind}</span>
      <span role="cell" class={`ov-c-latency num${last && !last.ok ? ' ov-failed' : ''}`} title={last ? (last.ok ? 'last check passed' : `last check failed: ${last.error || 'failed'}`) : 'not checked yet'}>
        {last ? ms(last.latency_ms) : '—'}
      </span>
      <span role="cell" class="ov-c-spark"><Sparkline values={latencies} label={`${card.name}: mean latency per hour, last 24 h`} /></span>
      <span role="cell" class="ov-c-bar"><HourBar cells={cells} name={card.name} /></span>
      <span role="cell" class="ov-c-uptime num" title="Uptime over the last 24 h">{percent(uptime24h(hourly, hour), true, 2)}</span>
    </div>
  );
});

/**
 * The 24 hourly uptime cells as one element painted by a gradient (24 elements per row
 * would be 24,000 for 1,000 monitors); the hours checked are listed in its tooltip.
 */
function HourBar({ cells, name }) {
  const n = cells.length;
  const edge = (i) => `${((i * 100) / n).toFixed(3)}%`;
  const stops = cells.map((c, i) => `var(--${uptimeClass(c.uptime)}) ${edge(i)} calc(${edge(i + 1)} - 1px), transparent 0 ${edge(i + 1)}`);
  const checked = cells.filter((c) => c.uptime !== null);
  const failing = checked.filter((c) => c.uptime < 0.999).length;
  const summary = checked.length === 0
    ? 'no checks in the last 24 h'
    : `${checked.length} of ${n} hours checked, ${failing} with failures`;
  return (
    <span
      class="ov-hourbar"
      role="img"
      aria-label={`${name}: uptime per hour, last 24 h: ${summary}`}
      title={[`Uptime per hour: ${summary}`, ...checked.map((c) => `${c.label}: ${percent(c.uptime, true, 2)}`)].join('\n')}
      style={{ backgroundImage: `linear-gradient(to right, ${stops.join(', ')})` }}
    />
  );
}
