// One monitor: status, what it checks, uptime, latency over a range, 90 days and the check log, live.

import { useRef, useState } from 'preact/hooks';
import { get, query, request } from '../lib/api.js';
import { useLoad } from '../lib/hooks.js';
import { href, navigate } from '../lib/router.js';
import { can, useSession } from '../lib/session.js';
import { dateTime, daysUntil, duration, ms, percent } from '../lib/format.js';
import { Note, Status } from '../components/Bits.jsx';
import { Ago } from '../components/HostTime.jsx';
import { useMonitorFeed } from '../components/MonitorFeed.jsx';
import { MonitorLatency, rangeOf } from '../components/MonitorLatency.jsx';
import { MonitorUptime } from '../components/MonitorUptime.jsx';
import { MonitorCheckLog } from '../components/MonitorCheckLog.jsx';
import './monitor.css';

/** The least time between two reloads of the monitor's figures caused by checks alone. */
const FIGURES_EVERY_MS = 15000;
/** Days of certificate validity under which the expiry is a warning, unless the monitor sets its own. */
const CERT_WARN_DAYS = 14;

/** The monitor view at `#/monitors/<id>`; `params.range` picks the latency chart's range. */
export function MonitorDetail({ id, params }) {
  const minPosition = useRef(null);
  const lastLoad = useRef(0);
  const [statusVersion, setStatusVersion] = useState(0);
  const monitor = useLoad(() => {
    lastLoad.current = Date.now();
    return get(`/monitors/${encodeURIComponent(id)}${query({ min_position: minPosition.current })}`);
  }, [id]);

  const reloadAt = (position) => {
    minPosition.current = position;
    monitor.reload();
  };
  useMonitorFeed(id, {
    // Uptime and mean latency move with every check: read them again now and then, not per check.
    onChecks: (checks) => Date.now() - lastLoad.current > FIGURES_EVERY_MS && reloadAt(checks[checks.length - 1].position),
    onEvents: (frames) => {
      reloadAt(frames[frames.length - 1].position);
      setStatusVersion((v) => v + 1);
    },
    onReset: () => reloadAt(null),
  });

  if (monitor.error?.status === 404) return <Missing id={id} />;
  // The data of the monitor asked for (after a link to another one, the last one's until it loads).
  const m = monitor.data?.id === id ? monitor.data : null;
  return (
    <>
      <p class="mon-crumbs"><a href={href('/')}>← Overview</a></p>
      <div class="mon-head">
        <h1>{m ? m.name : 'Monitor'}</h1>
        {m && <span data-testid="monitor-status"><Status status={m.status} /></span>}
        {m && <Actions monitor={m} onDone={reloadAt} />}
      </div>
      {monitor.error && <Note kind="error">Could not load the monitor: {monitor.error.message}</Note>}
      {!m && !monitor.error && <Note>Loading…</Note>}
      {m && (
        <>
          {m.status === 'down' && m.down_reason && (
            <p class="mon-down" data-testid="monitor-down-reason">
              {m.down_reason} <span class="mon-down-since">(went down <Ago time={m.status_since} />)</span>
            </p>
          )}
          <Facts monitor={m} />
          <MonitorLatency key={id} id={id} rangeKey={rangeOf(params.range).key} onRange={(range) => navigate(`/monitors/${encodeURIComponent(id)}`, { ...params, range })} />
          <MonitorUptime key={id} id={id} createdAt={m.created_at} version={statusVersion} />
          <MonitorCheckLog key={id} id={id} />
        </>
      )}
    </>
  );
}

/** The note for an id no monitor has. */
function Missing({ id }) {
  return (
    <>
      <h1>Monitor not found</h1>
      <Note>
        There is no monitor with the id <code>{id}</code>: it was deleted, or the link is wrong.{' '}
        <a href={href('/')}>Back to the overview</a>.
      </Note>
    </>
  );
}

/** Pause or resume (operators), and the link to edit it in settings. */
function Actions({ monitor, onDone }) {
  const { me } = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const operator = can(me?.role, 'operator');

  const run = async (action) => {
    setBusy(true);
    setError(null);
    try {
      const res = await request('POST', `/monitors/${encodeURIComponent(monitor.id)}/${action}`, {}, { raw: true });
      onDone(Number(res.headers.get('Watchfire-Position')) || null);
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="mon-actions">
      {operator && (monitor.paused ? (
        <button type="button" class="primary" onClick={() => run('resume')} disabled={busy}>Resume</button>
      ) : (
        <button type="button" onClick={() => run('pause')} disabled={busy}>Pause</button>
      ))}
      {operator && <a class="button" href={href(`/settings/monitors?edit=${encodeURIComponent(monitor.id)}`)}>Edit in settings</a>}
      {error && <span class="form-error" role="alert">Could not {monitor.paused ? 'resume' : 'pause'}: {error}</span>}
    </div>
  );
}

/** A ping's replies, loss and round trips, as ping(8) sums them up. */
function PingStats({ ping: p }) {
  // Round trips on a LAN are fractions of a millisecond: ping(8)'s three decimals under 1 ms.
  const rt = (v) => (v < 1 ? `${v.toFixed(3)} ms` : ms(v));
  const rtt = p.rtt_avg_ms == null ? '' : ` · rtt ${rt(p.rtt_min_ms)} / ${rt(p.rtt_avg_ms)} / ${rt(p.rtt_max_ms)} (min/avg/max)`;
  return <span>{p.received} of {p.sent} replied · {Math.round(p.loss_percent)} % loss{rtt}</span>;
}

/** What a monitor checks, in a few words: the URL, host and port, name and record, or the push URL. */
function Target({ monitor: m }) {
  if (m.kind === 'http') return <span><span class="muted">{m.method || 'GET'}</span> <code>{m.url}</code></span>;
  if (m.kind === 'tcp') return <code>{m.host}:{m.port}</code>;
  if (m.kind === 'dns') return <span><code>{m.host}</code> <span class="muted">{m.record_type || 'A'} record{m.resolver ? ` via ${m.resolver}` : ''}</span></span>;
  if (m.kind === 'push') return m.push_url ? <span>heartbeats to <code>{m.push_url}</code></span> : <span>heartbeats</span>;
  if (m.kind === 'ping') return <span><code>{m.host}</code> <span class="muted">{m.count ?? 3} packets</span></span>;
  return <span class="muted">—</span>;
}

/** The certificate's expiry: days left, a warning under the monitor's threshold. */
function Cert({ monitor: m }) {
  if (!m.cert_expires_at) return <span class="muted">not seen yet</span>;
  const days = daysUntil(m.cert_expires_at);
  const warn = days < (m.cert_expiry_days ?? CERT_WARN_DAYS);
  const left = days < 0 ? `expired ${Math.ceil(-days)} days ago` : `${Math.floor(days)} days left`;
  return (
    <span class={warn ? 'mon-cert-warn' : undefined} data-testid="cert-expiry" data-warn={String(warn)}>
      {warn && <span class="status status-warning">expiring</span>} {left} <span class="muted">({dateTime(m.cert_expires_at)})</span>
    </span>
  );
}

/** The monitor's settings and figures at a glance. */
function Facts({ monitor: m }) {
  const https = m.kind === 'http' && /^https:/i.test(m.url || '');
  return (
    <section class="panel" aria-label="Monitor facts">
      <dl class="mon-facts">
        <div class="mon-wide"><dt>Checks</dt><dd data-testid="monitor-target"><Target monitor={m} /></dd></div>
        <div><dt>Kind</dt><dd>{m.kind}</dd></div>
        <div><dt>Every</dt><dd>{duration(m.interval_s)}</dd></div>
        {m.kind !== 'push' && <div><dt>Timeout</dt><dd>{ms(m.timeout_ms)}</dd></div>}
        <div><dt>Status since</dt><dd><Ago time={m.status_since} /></dd></div>
        <div><dt>Last check</dt><dd>{m.last_check ? <Ago time={m.last_check.at} /> : <span class="muted">none yet</span>}</dd></div>
        <div><dt>Uptime 24 h</dt><dd class="mon-num" data-testid="uptime-24h">{percent(m.uptime?.['24h'], true, 2)}</dd></div>
        <div><dt>Uptime 7 d</dt><dd class="mon-num" data-testid="uptime-7d">{percent(m.uptime?.['7d'], true, 2)}</dd></div>
        <div><dt>Uptime 30 d</dt><dd class="mon-num" data-testid="uptime-30d">{percent(m.uptime?.['30d'], true, 2)}</dd></div>
        <div><dt>Mean latency 24 h</dt><dd class="mon-num" data-testid="avg-latency">{ms(m.avg_latency_ms_24h)}</dd></div>
        {https && <div class="mon-wide"><dt>Certificate</dt><dd><Cert monitor={m} /></dd></div>}
        {m.last_check?.ping && <div class="mon-wide"><dt>Last ping</dt><dd class="mon-num" data-testid="last-ping"><PingStats ping={m.last_check.ping} /></dd></div>}
        {m.tags?.length > 0 && <div><dt>Tags</dt><dd>{m.tags.join(', ')}</dd></div>}
      </dl>
    </section>
  );
}
