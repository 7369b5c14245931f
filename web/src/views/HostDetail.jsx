// One host: its status, latest figures and history, kept live over the `host:<name>` topic.

import { useRef } from 'preact/hooks';
import { get, query } from '../lib/api.js';
import { useLoad, useTopicEvents } from '../lib/hooks.js';
import { href, navigate } from '../lib/router.js';
import { dateTime, duration } from '../lib/format.js';
import { Note, Status } from '../components/Bits.jsx';
import { Ago } from '../components/HostTime.jsx';
import { HostFigures } from '../components/HostFigures.jsx';
import { HostCharts, rangeOf } from '../components/HostCharts.jsx';
import './host.css';

/** Events of a host's topic after which its figures are read again. */
const HOST_EVENTS = new Set(['HostMetricsReported', 'HostRegistered', 'HostWentStale', 'HostRecovered', 'HostScrapeFailed', 'HostDeleted']);

/** The host view at `#/hosts/<hostname>`; `params.range` picks the charts' range. */
export function HostDetail({ hostname, params }) {
  const name = hostname.toLowerCase();
  const minPosition = useRef(null);
  const refreshCharts = useRef(() => {});
  const host = useLoad(() => get(`/hosts/${encodeURIComponent(name)}${query({ min_position: minPosition.current })}`), [name]);

  useTopicEvents(`host:${name}`, (updates, topic) => {
    if (updates && !updates.some((u) => HOST_EVENTS.has(u.event))) return;
    minPosition.current = topic.position;
    host.reload();
    if (updates?.some((u) => u.event === 'HostMetricsReported')) refreshCharts.current();
  });

  const setRange = (range) => navigate(`/hosts/${encodeURIComponent(name)}`, { ...params, range });

  if (host.error?.status === 404) {
    return (
      <>
        <h1>{name}</h1>
        <Note>
          There is no host named “{name}”: it was deleted, or no agent has reported it yet. This page fills in by
          itself when it does. <a href={href('/')}>Back to the overview</a>.
        </Note>
      </>
    );
  }
  // The data of the host asked for (after a link to another one, the last one's until it loads).
  const h = host.data?.hostname?.toLowerCase() === name ? host.data : null;
  return (
    <>
      <p class="host-crumbs"><a href={href('/')}>← Overview</a></p>
      <div class="host-head">
        <h1>{name}</h1>
        {h && <span data-testid="host-status"><Status status={h.status} /></span>}
      </div>
      {host.error && <Note kind="error">Could not load the host: {host.error.message}</Note>}
      {!h && !host.error && <Note>Loading…</Note>}
      {h && (
        <>
          <HostFacts host={h} />
          <section class="panel host-panel" aria-labelledby="host-latest-title">
            <h2 id="host-latest-title">Latest figures</h2>
            <HostFigures metrics={h.metrics} />
          </section>
          <HostCharts
            hostname={name}
            mountpoints={(h.metrics?.disk?.partitions || []).map((p) => p.mountpoint)}
            rangeKey={rangeOf(params.range).key}
            onRange={setRange}
            refreshRef={refreshCharts}
          />
        </>
      )}
    </>
  );
}

/** What the server knows of the host: status since, last seen, source, last error. */
function HostFacts({ host }) {
  return (
    <section class="panel" aria-label="Host facts">
      <dl class="host-facts">
        <div><dt>Status since</dt><dd><Ago time={host.status_since} /></dd></div>
        <div><dt>Last seen</dt><dd data-testid="host-last-seen"><Ago time={host.last_seen} /></dd></div>
        <div><dt>Source</dt><dd>{host.source === 'scrape' ? <span>scraped from <code>{host.scrape_url}</code></span> : 'agent push'}</dd></div>
        <div><dt>Interval</dt><dd>{host.interval_s ? duration(host.interval_s) : '—'}</dd></div>
        <div><dt>Stale after</dt><dd>{duration(host.stale_after_s)}</dd></div>
        <div><dt>Samples</dt><dd>{host.samples.toLocaleString()}</dd></div>
        <div><dt>Registered</dt><dd>{dateTime(host.registered_at)}</dd></div>
        {host.tags.length > 0 && <div><dt>Tags</dt><dd>{host.tags.join(', ')}</dd></div>}
        <div class="host-error">
          <dt>Last error</dt>
          <dd data-testid="host-last-error">{host.last_error ? <span class="note-error">{host.last_error}</span> : <span class="muted">none</span>}</dd>
        </div>
      </dl>
    </section>
  );
}
