// Settings › Hosts: every host (pushed by an agent or scraped) with live status; add a
// scraped node_exporter host; delete one.

import { useCallback, useMemo, useRef, useState } from 'preact/hooks';
import { memo } from 'preact/compat';
import { useTopic } from '../../lib/hooks.js';
import { href } from '../../lib/router.js';
import { ago, duration } from '../../lib/format.js';
import { Field, useForm } from '../../components/Field.jsx';
import { Status } from '../../components/Bits.jsx';
import {
  ConfirmButton, Flash, FormPanel, ListState, SectionHead, Tags,
  bind, failed, num, prune, send, splitList, text, useList, useLiveReload,
} from './parts.jsx';

const FIELDS = ['hostname', 'scrape_url', 'interval_s', 'stale_after_s', 'tags'];
const DEFAULTS = { hostname: '', scrape_url: '', interval_s: '15', stale_after_s: '', tags: '' };

/** The Hosts tab: list, add a scraped host, delete. */
export function HostsTab({ canEdit }) {
  const list = useList('/hosts', 'hosts');
  const dashboard = useTopic('dashboard');
  const [adding, setAdding] = useState(false);
  const [flash, setFlash] = useState(null);
  useLiveReload('dashboard', /^Host(Registered|Deleted)$/, list.reloadAt);

  const saved = (host, position) => {
    setFlash({ kind: 'ok', text: `Added host “${host.hostname}”: the server scrapes it every ${duration(host.interval_s)}.` });
    setAdding(false);
    list.reloadAt(position);
  };
  const remove = async (h) => {
    try {
      const { position } = await send('DELETE', `/hosts/${encodeURIComponent(h.hostname)}`);
      setFlash({ kind: 'ok', text: `Deleted host “${h.hostname}”.` });
      list.reloadAt(position);
    } catch (e) {
      setFlash(failed(`delete “${h.hostname}”`, e));
    }
  };

  // One function for every row, so memoized rows skip the tab's re-renders.
  const removeNow = useRef(remove);
  removeNow.current = remove;
  const onDelete = useCallback((h) => removeNow.current(h), []);

  return (
    <section aria-labelledby="settings-hosts">
      <SectionHead id="settings-hosts" title="Hosts" addLabel="Add host" canEdit={canEdit} onAdd={adding ? null : () => { setFlash(null); setAdding(true); }} />
      <p class="muted">Agents register their host with their first push; here you add a node_exporter for the server to scrape.</p>
      <Flash flash={flash} />
      {adding && canEdit && <HostForm onSaved={saved} onCancel={() => setAdding(false)} />}
      <ListState list={list} what="the hosts" empty="No hosts yet.">
        {(rows) => <HostTable hosts={rows} live={dashboard?.hosts} canEdit={canEdit} onDelete={onDelete} />}
      </ListState>
    </section>
  );
}

/** The hosts as a table: name, source, scrape URL, interval, live status, last seen, tags. */
function HostTable({ hosts, live, canEdit, onDelete }) {
  const sorted = useMemo(() => [...hosts].sort((a, b) => a.hostname.localeCompare(b.hostname)), [hosts]);
  return (
    <div class="table-wrap">
      <table class="settings-table">
        <thead>
          <tr><th>Hostname</th><th>Source</th><th>Scrape URL</th><th class="num">Interval</th><th>Status</th><th>Last seen</th><th>Tags</th>{canEdit && <th><span class="settings-sr">Actions</span></th>}</tr>
        </thead>
        <tbody>
          {sorted.map((h) => {
            const now = live?.[h.hostname.toLowerCase()];
            return (
              <HostRow key={h.hostname} host={h} status={now?.status ?? h.status} lastSeen={now?.last_seen ?? h.last_seen}
                tags={now?.tags ?? h.tags} canEdit={canEdit} onDelete={onDelete} />
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** One host of the table: re-renders only when the host or its live status, last sight or tags change. */
const HostRow = memo(function HostRow({ host: h, status, lastSeen, tags, canEdit, onDelete }) {
  return (
    <tr data-testid="settings-row" data-id={h.hostname}>
      <td data-label="Hostname"><a href={href(`/hosts/${encodeURIComponent(h.hostname)}`)}>{h.hostname}</a></td>
      <td data-label="Source">{h.source || '—'}</td>
      <td data-label="Scrape URL" class="settings-target">{h.scrape_url ? <span class="mono">{h.scrape_url}</span> : <span class="muted">—</span>}</td>
      <td data-label="Interval" class="num">{h.interval_s ? duration(h.interval_s) : '—'}</td>
      <td data-label="Status"><Status status={status} /></td>
      <td data-label="Last seen">{ago(lastSeen)}</td>
      <td data-label="Tags"><Tags tags={tags} /></td>
      {canEdit && (
        <td class="settings-actions">
          <ConfirmButton what={h.hostname} question={`Delete “${h.hostname}”?`} onConfirm={() => onDelete(h)} />
        </td>
      )}
    </tr>
  );
});

/** The form adding a scraped host. */
function HostForm({ onSaved, onCancel }) {
  const form = useForm(DEFAULTS);
  const save = () => form.submit(async (v) => {
    const body = prune({
      hostname: text(v.hostname), scrape_url: text(v.scrape_url), interval_s: num(v.interval_s),
      stale_after_s: num(v.stale_after_s), tags: splitList(v.tags),
    });
    const { data, position } = await send('POST', '/hosts', body);
    onSaved(data, position);
  });
  return (
    <FormPanel title="New scraped host" form={form} names={FIELDS} onSubmit={save} onCancel={onCancel}>
      <div class="form-grid">
        <Field label="Hostname" {...bind(form, 'hostname')} required placeholder="db-1" />
        <div class="settings-span2">
          <Field label="Scrape URL" {...bind(form, 'scrape_url')} required inputMode="url" placeholder="http://db-1:9100/metrics" hint="A node_exporter's /metrics" />
        </div>
        <Field label="Interval (s)" type="number" step="any" {...bind(form, 'interval_s')} hint="Seconds between scrapes" />
        <Field label="Stale after (s)" type="number" step="any" {...bind(form, 'stale_after_s')} hint="Three intervals when empty" />
        <Field label="Tags" {...bind(form, 'tags')} hint="Comma-separated, such as prod, db" />
      </div>
    </FormPanel>
  );
}
