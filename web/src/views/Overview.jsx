// The Overview view: every monitor, host and open alert at a glance, kept current over the live feed.

import { useEffect, useMemo } from 'preact/hooks';
import { memo } from 'preact/compat';
import { useLoad, useTopic } from '../lib/hooks.js';
import { get } from '../lib/api.js';
import { href } from '../lib/router.js';
import { ago, dateTime } from '../lib/format.js';
import { Gauge, Note, Status } from '../components/Bits.jsx';
import { useNow } from '../components/HostTime.jsx';
import { MonitorRows } from '../components/MonitorRows.jsx';
import './overview.css';

/** Severities, most urgent first. */
const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };

/**
 * The dashboard drawn from one Dashboard JSON object (`GET /api/v1/dashboard`, the live
 * topic, or an audit state); `readOnly` (a past state) leaves out the filters and shows
 * absolute times.
 */
export function DashboardView({ data, readOnly = false }) {
  if (!data) return <Note>Loading the dashboard…</Note>;
  return readOnly ? <DashboardBody data={data} now={null} readOnly /> : <LiveBody data={data} />;
}

/** The body with a clock that moves relative times along every 30 s (one timer for the view). */
function LiveBody({ data }) {
  const now = useNow();
  return <DashboardBody data={data} now={now} readOnly={false} />;
}

/** How often the nodes panel asks again: membership has no live topic, and changes seldom. */
const NODES_EVERY_MS = 10000;

/** The nodes of a cluster (a shared log): each one's address, heartbeat, and what it owns (of that, alert rules and channels); nothing on a single node. */
function Nodes() {
  const { data, reload } = useLoad(() => get('/cluster'), []);
  useEffect(() => {
    const timer = setInterval(reload, NODES_EVERY_MS);
    return () => clearInterval(timer);
  }, [reload]);
  if (!data || !data.clustered) return null;
  return (
    <section class="panel ov-nodes" aria-labelledby="ov-nodes-title" data-testid="overview-nodes">
      <h2 id="ov-nodes-title">Nodes</h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr><th scope="col">Node</th><th scope="col">Address</th><th scope="col">Owns</th><th scope="col">Rules</th><th scope="col">Channels</th><th scope="col">Heartbeat</th><th scope="col">Started</th></tr>
          </thead>
          <tbody>
            {data.nodes.map((n) => (
              <tr key={n.id}>
                <th scope="row"><code title={n.id}>{n.id.slice(0, 8)}</code>{n.this && ' (this one)'}</th>
                <td>{n.addr}</td>
                <td>{n.owned}</td>
                <td>{n.rules}</td>
                <td>{n.channels}</td>
                <td>{n.heartbeat_age_s.toFixed(1)} s ago</td>
                <td><time datetime={n.started_at} title={dateTime(n.started_at)}>{ago(n.started_at)}</time></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** When something happened: "3 min ago" (live: `now` is set and moves every 30 s), or the date and time (a past state: `now` is null). */
function When({ time, now }) {
  if (!time) return <span class="muted">never</span>;
  return <time datetime={time} title={dateTime(time)}>{now === null ? dateTime(time) : ago(time)}</time>;
}

/** Summary, health, open alerts, monitors and hosts of one Dashboard object; `now` null for a past state. */
function DashboardBody({ data, now, readOnly }) {
  // Live patches do not move `as_of`: the clock does; a past state ends at its own `as_of`.
  const asOf = data.as_of ? Date.parse(data.as_of) : 0;
  const hour = Math.floor((now === null ? asOf || Date.now() : Math.max(asOf, now)) / 3600000);
  const monitors = data.monitors || {};
  const hosts = data.hosts || {};
  return (
    <div class="ov">
      <Summary data={data} />
      <div class="ov-top">
        <Health health={data.health} now={now} />
        <OpenAlerts alerts={data.alerts || {}} now={now} />
      </div>
      <section class="panel" aria-labelledby="ov-monitors-title">
        <h2 id="ov-monitors-title">Monitors</h2>
        <MonitorRows monitors={monitors} hour={hour} readOnly={readOnly} />
      </section>
      <Hosts hosts={hosts} now={now} />
      {!readOnly && <Nodes />}
    </div>
  );
}

/** Counts of `cards` by status. */
function countByStatus(cards) {
  const out = {};
  for (const c of Object.values(cards || {})) out[c.status] = (out[c.status] || 0) + 1;
  return out;
}

/** One line: monitors by status, hosts, open alerts (counted from the cards: live patches carry no counts). */
function Summary({ data }) {
  const m = useMemo(() => countByStatus(data.monitors), [data.monitors]);
  const h = useMemo(() => countByStatus(data.hosts), [data.hosts]);
  const monitorTotal = Object.keys(data.monitors || {}).length;
  const hostTotal = Object.keys(data.hosts || {}).length;
  const alertTotal = Object.keys(data.alerts || {}).length;
  const hostsOff = Object.entries(h).filter(([s, n]) => s !== 'up' && n > 0);
  return (
    <p class="ov-summary" data-testid="overview-summary">
      <span>
        <strong>{monitorTotal}</strong> {monitorTotal === 1 ? 'monitor' : 'monitors'}:{' '}
        {['up', 'down', 'pending', 'paused'].map((s, i) => (
          <span key={s} class={`ov-count ov-count-${s}${m[s] ? '' : ' ov-count-zero'}`}>{i ? ', ' : ''}{m[s] || 0} {s}</span>
        ))}
      </span>{' '}
      <span>
        <strong>{hostTotal}</strong> {hostTotal === 1 ? 'host' : 'hosts'}
        {hostsOff.length > 0 && <> ({hostsOff.map(([s, n]) => `${n} ${s}`).join(', ')})</>}
      </span>{' '}
      <span class={alertTotal ? 'ov-count-alerts' : undefined}>
        <strong>{alertTotal}</strong> open {alertTotal === 1 ? 'alert' : 'alerts'}
      </span>
    </p>
  );
}

/** Whether the server is ready, else why not. */
function Health({ health, now }) {
  const ready = health ? health.ready !== false : true;
  return (
    <section class="panel ov-health" aria-labelledby="ov-health-title">
      <h2 id="ov-health-title">Health</h2>
      {!health ? (
        <p class="muted">No health recorded.</p>
      ) : ready ? (
        <p class="ov-ready"><Status status="ok" /> Ready{health.since && <> since <When time={health.since} now={now} /></>}</p>
      ) : (
        <>
          <p class="ov-ready"><Status status="down" /> Not ready{health.since && <> since <When time={health.since} now={now} /></>}</p>
          <ul class="ov-reasons">{(health.reasons || []).map((r) => <li key={r}>{r}</li>)}</ul>
        </>
      )}
    </section>
  );
}

/** The open alerts, most severe and newest first. */
function OpenAlerts({ alerts, now }) {
  const list = useMemo(
    () => Object.values(alerts).sort((a, b) => (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9) || String(b.since).localeCompare(String(a.since))),
    [alerts],
  );
  return (
    <section class="panel ov-alerts" aria-labelledby="ov-alerts-title">
      <h2 id="ov-alerts-title">Open alerts</h2>
      {list.length === 0 ? (
        <p class="muted">No open alerts.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr><th>Severity</th><th>Alert</th><th>Subject</th><th>State</th><th>Since</th></tr>
            </thead>
            <tbody>
              {list.map((a) => (
                <tr key={a.id} data-testid="overview-alert" data-state={a.state}>
                  <td><Status status={a.severity} /></td>
                  <td><a href={href(`/alerts/${encodeURIComponent(a.id)}`)}>{a.rule_name || 'alert'}</a></td>
                  <td>{a.subject_name || a.subject_id}</td>
                  <td><Status status={a.state} /></td>
                  <td class="ov-nowrap"><When time={a.since || a.opened_at} now={now} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** Every host as a card, by name. */
function Hosts({ hosts, now }) {
  const names = useMemo(() => Object.keys(hosts).sort(), [hosts]);
  return (
    <section class="panel" aria-labelledby="ov-hosts-title">
      <h2 id="ov-hosts-title">Hosts</h2>
      {names.length === 0 ? (
        <p class="muted">No hosts yet: run the agent on a machine, or add a scraped host in Settings.</p>
      ) : (
        <ul class="ov-hosts">
          {names.map((name) => <HostCard key={name} name={name} card={hosts[name]} now={now} />)}
        </ul>
      )}
    </section>
  );
}

/** One host: status, CPU, memory and disk, last seen; the whole card opens the host. */
const HostCard = memo(function HostCard({ name, card, now }) {
  const m = card.metrics || {};
  return (
    <li class={`ov-host ov-host-${card.status}`} data-testid="host-card" data-status={card.status}>
      <div class="ov-host-head">
        <a class="ov-host-link" href={href(`/hosts/${encodeURIComponent(name)}`)}>{name}</a>
        <Status status={card.status} />
      </div>
      <Gauge label="CPU" value={m.cpu_percent} />
      <Gauge label="Memory" value={m.memory_percent} />
      <Gauge label="Disk" value={m.disk_percent_max} />
      <p class="ov-host-seen muted">Last seen <When time={card.last_seen} now={now} /></p>
      {card.last_error && <p class="ov-host-error">{card.last_error}</p>}
    </li>
  );
});

/** The Overview view: the live dashboard. */
export function Overview() {
  const data = useTopic('dashboard');
  return (
    <>
      <h1>Overview</h1>
      <DashboardView data={data} />
    </>
  );
}
