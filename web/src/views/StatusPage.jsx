// The public status page at `/status/<slug>`: no sign-in. It reads
// `/api/v1/status/<slug>` and follows the WebSocket topic `status:<slug>` (open without a
// token); each update is a hint to read the page again, so it never holds more than the
// public JSON says.

import { useEffect, useState } from 'preact/hooks';
import { dateTime } from '../lib/format.js';
import './statuspage.css';

const OVERALL = {
  operational: 'All systems operational',
  degraded: 'Some systems are down',
  down: 'All systems are down',
  maintenance: 'Under maintenance',
};

/** Reads the public status of `slug`: `{data, error}`. */
async function load(slug) {
  const res = await fetch(`/api/v1/status/${encodeURIComponent(slug)}`, { headers: { Accept: 'application/json' } });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(body?.detail || `HTTP ${res.status}`);
  return body;
}

/** Follows `status:<slug>`, calling `onChange` on every update and reconnecting with backoff. */
function follow(slug, onSnapshot, onChange, onState) {
  let socket;
  let stopped = false;
  let delay = 500;
  const open = () => {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    socket = new WebSocket(`${proto}//${location.host}/ws`);
    socket.onopen = () => {
      delay = 500;
      socket.send(JSON.stringify({ type: 'subscribe', topics: [`status:${slug}`] }));
    };
    socket.onmessage = (m) => {
      let frame;
      try { frame = JSON.parse(m.data); } catch { return; }
      if (frame.type === 'snapshot' && frame.data) { onState('live'); onSnapshot(frame.data); }
      else if (frame.type === 'update') onChange(frame.data);
    };
    socket.onclose = () => {
      if (stopped) return;
      onState('reconnecting');
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 5000);
    };
  };
  open();
  return () => { stopped = true; socket?.close(); };
}

/** The public status page of `slug`. */
export function StatusPage({ slug }) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [conn, setConn] = useState('connecting');

  useEffect(() => {
    let timer = null;
    const reload = () => load(slug).then((d) => { setData(d); setError(null); }, (e) => setError(e.message));
    reload();
    const stop = follow(slug, (snap) => setData(snap), (hint) => {
      // Show a monitor's new status at once, then read the page again for its figures.
      if (hint?.monitor_id && hint.status) {
        setData((d) => d && {
          ...d,
          groups: d.groups.map((g) => ({
            ...g,
            monitors: g.monitors.map((m) => (m.id === hint.monitor_id ? { ...m, status: hint.status } : m)),
          })),
        });
      }
      clearTimeout(timer);
      timer = setTimeout(reload, 250);
    }, setConn);
    return () => { stop(); clearTimeout(timer); };
  }, [slug]);

  useEffect(() => { if (data?.title) document.title = data.title; }, [data?.title]);

  if (error && !data) return <main class="sp"><p class="note" role="alert">This status page cannot be shown: {error}</p></main>;
  if (!data) return <main class="sp" aria-busy="true" />;
  return (
    <main class="sp" id="main">
      <header class="sp-head">
        <h1>{data.title}</h1>
        {data.description && <p class="muted">{data.description}</p>}
        <span class={`sp-conn muted`} data-testid="connection">{conn === 'live' ? 'Live' : conn === 'reconnecting' ? 'Reconnecting…' : 'Connecting…'}</span>
      </header>
      <div class={`sp-overall sp-${data.status}`} role="status" data-testid="overall">{OVERALL[data.status] || data.status}</div>
      {data.maintenance.map((m) => (
        <section key={m.id} class="panel sp-maintenance" data-testid="maintenance">
          <h2>{m.phase === 'active' ? 'Maintenance in progress' : 'Scheduled maintenance'}: {m.title}</h2>
          <p class="muted">{dateTime(m.starts_at)} – {dateTime(m.ends_at)}</p>
          {m.message && <p>{m.message}</p>}
        </section>
      ))}
      {data.incidents.map((i) => <Incident key={i.id} incident={i} />)}
      {data.groups.map((g) => (
        <section key={g.name} class="panel sp-group">
          <h2>{g.name}</h2>
          <ul class="sp-monitors">
            {g.monitors.map((m) => <MonitorRow key={m.id} monitor={m} />)}
          </ul>
        </section>
      ))}
      <footer class="muted sp-foot">Updated {dateTime(data.as_of)} · powered by watchfire</footer>
    </main>
  );
}

function Incident({ incident: i }) {
  return (
    <section class={`panel sp-incident sp-impact-${i.impact}`} data-testid="incident">
      <h2>{i.title} <span class={`status status-${i.status === 'resolved' ? 'resolved' : 'pending'}`}>{i.status}</span></h2>
      <ol class="sp-timeline">
        {i.updates.map((u, n) => (
          <li key={n}><strong>{u.status}</strong> <span class="muted">{dateTime(u.at)}</span>{u.message && <p>{u.message}</p>}</li>
        ))}
      </ol>
    </section>
  );
}

/** 90 cells, one a day, oldest first; days without checks are grey. */
function days(list, asOf) {
  const byDate = new Map((list || []).map((d) => [d.date, d.uptime]));
  const end = new Date(asOf);
  const cells = [];
  for (let n = 89; n >= 0; n--) {
    const date = new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth(), end.getUTCDate() - n)).toISOString().slice(0, 10);
    cells.push({ date, uptime: byDate.get(date) });
  }
  return cells;
}

function MonitorRow({ monitor: m }) {
  const pct = (u) => (u == null ? '—' : `${(u * 100).toFixed(2).replace(/\.?0+$/, '')}%`);
  return (
    <li class="sp-monitor" data-testid="status-monitor" data-id={m.id}>
      <div class="row">
        <span class={`status status-${m.status}`} data-testid="status-monitor-status">{m.status}</span>
        <strong>{m.name}</strong>
        <span class="spacer" />
        <span class="muted" title="uptime in the last 24 hours">{pct(m.uptime_24h)} (24 h)</span>
      </div>
      {m.error && <p class="muted sp-error">{m.error}</p>}
      <div class="uptime-bar" aria-label="uptime per day, last 90 days">
        {days(m.days, Date.now()).map((d) => (
          <span key={d.date} title={`${d.date}: ${pct(d.uptime)}`}
            class={`cell ${d.uptime == null ? '' : d.uptime >= 0.99 ? 'good' : d.uptime >= 0.9 ? 'fair' : 'bad'}`} />
        ))}
      </div>
    </li>
  );
}
