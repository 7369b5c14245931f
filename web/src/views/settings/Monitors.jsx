// Settings › Monitors: the list with live status, and the create / edit form that adapts to
// the kind (http, tcp, dns, ping, push). `#/settings/monitors?edit=<id>` opens one's edit form.

import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { memo } from 'preact/compat';
import { get } from '../../lib/api.js';
import { useLoad, useTopic } from '../../lib/hooks.js';
import { href, navigate } from '../../lib/router.js';
import { duration } from '../../lib/format.js';
import { Field, useForm } from '../../components/Field.jsx';
import { Note, Status } from '../../components/Bits.jsx';
import {
  Check, ConfirmButton, CopyBox, Flash, FormPanel, Hidden, ListState, SectionHead, Tags,
  bind, diff, failed, num, prune, send, splitList, text, useList, useLiveReload,
} from './parts.jsx';

const KINDS = ['http', 'tcp', 'dns', 'ping', 'push'];
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const RECORD_TYPES = ['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'NS'];
/** Events that change what the list shows beyond the status. */
const LIST_EVENTS = /^Monitor(Created|Updated|Deleted|Paused|Resumed)$/;

/** The fields every kind has, by their API names. */
const COMMON_FIELDS = ['name', 'kind', 'tags', 'interval_s', 'timeout_ms', 'retries', 'recover_after'];
/** The fields of each kind, by their API names (errors of these land at their inputs). */
const KIND_FIELDS = {
  http: ['url', 'method', 'headers', 'body', 'follow_redirects', 'ignore_tls_errors', 'expect.status', 'expect.body_contains',
    'expect.body_regex', 'expect.json_path', 'expect.json_path.path', 'expect.json_path.equals', 'expect.max_latency_ms', 'cert_expiry_days'],
  tcp: ['host', 'port'],
  dns: ['host', 'record_type', 'resolver', 'expect.contains'],
  ping: ['host', 'count', 'packet_timeout_ms', 'max_loss_percent'],
  push: ['grace_s'],
};

/** A new monitor's form values: the API's defaults. */
const DEFAULTS = {
  name: '', kind: 'http', tags: '', interval_s: '60', timeout_ms: '', retries: '1', recover_after: '1',
  url: '', method: 'GET', headers: '', body: '', follow_redirects: true, ignore_tls_errors: false,
  'expect.status': '', 'expect.body_contains': '', 'expect.body_regex': '', 'expect.json_path.path': '',
  'expect.json_path.equals': '', 'expect.max_latency_ms': '', cert_expiry_days: '14',
  host: '', port: '', record_type: 'A', resolver: '', 'expect.contains': '', grace_s: '0',
  count: '3', packet_timeout_ms: '2000', max_loss_percent: '',
};

/** The Monitors tab: list, create, edit (from `params.edit`), delete. */
export function MonitorsTab({ params, canEdit }) {
  const list = useList('/monitors', 'monitors');
  const dashboard = useTopic('dashboard');
  const [adding, setAdding] = useState(false);
  const [flash, setFlash] = useState(null);
  useLiveReload('dashboard', LIST_EVENTS, list.reloadAt);
  const editing = params.edit;
  useEffect(() => {
    if (editing) setAdding(false);
  }, [editing]);

  const saved = (monitor, position, created) => {
    setFlash({
      kind: 'ok',
      text: `${created ? 'Added' : 'Saved'} monitor “${monitor.name}”.`,
      extra: created && monitor.kind === 'push' ? <PushUrl monitor={monitor} /> : null,
    });
    setAdding(false);
    list.reloadAt(position);
    if (editing) navigate('/settings/monitors');
  };
  const remove = async (m) => {
    try {
      const { position } = await send('DELETE', `/monitors/${m.id}`);
      setFlash({ kind: 'ok', text: `Deleted monitor “${m.name}”.` });
      list.reloadAt(position);
      if (editing === m.id) navigate('/settings/monitors');
    } catch (e) {
      setFlash(failed(`delete “${m.name}”`, e));
    }
  };
  // One function for every row, so memoized rows skip the tab's re-renders.
  const removeNow = useRef(remove);
  removeNow.current = remove;
  const onDelete = useCallback((m) => removeNow.current(m), []);
  const open = () => {
    setFlash(null);
    setAdding(true);
    if (editing) navigate('/settings/monitors');
  };

  return (
    <section aria-labelledby="settings-monitors">
      <SectionHead id="settings-monitors" title="Monitors" addLabel="Add monitor" canEdit={canEdit} onAdd={adding ? null : open} />
      <Flash flash={flash} />
      {adding && canEdit && !editing && <MonitorForm onSaved={saved} onCancel={() => setAdding(false)} />}
      {editing && (canEdit
        ? <MonitorEdit key={editing} id={editing} onSaved={saved} onCancel={() => navigate('/settings/monitors')} />
        : <Note kind="error">Changing a monitor needs the operator role.</Note>)}
      <ListState list={list} what="the monitors" empty="No monitors yet.">
        {(rows) => <MonitorTable monitors={rows} live={dashboard?.monitors} canEdit={canEdit} onDelete={onDelete} />}
      </ListState>
    </section>
  );
}

/** The monitors as a table: name, kind, target, interval, live status, tags, actions. */
function MonitorTable({ monitors, live, canEdit, onDelete }) {
  const sorted = useMemo(() => [...monitors].sort((a, b) => a.name.localeCompare(b.name)), [monitors]);
  return (
    <div class="table-wrap">
      <table class="settings-table">
        <thead>
          <tr><th>Name</th><th>Kind</th><th>Target</th><th class="num">Interval</th><th>Status</th><th>Tags</th>{canEdit && <th><span class="settings-sr">Actions</span></th>}</tr>
        </thead>
        <tbody>
          {sorted.map((m) => (
            <MonitorRow key={m.id} monitor={m} status={live?.[m.id]?.status ?? m.status} canEdit={canEdit} onDelete={onDelete} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** One monitor of the table: re-renders only when the monitor or its live status changes. */
const MonitorRow = memo(function MonitorRow({ monitor: m, status, canEdit, onDelete }) {
  return (
    <tr data-testid="settings-row" data-id={m.id}>
      <td data-label="Name"><a href={href(`/monitors/${m.id}`)}>{m.name}</a></td>
      <td data-label="Kind">{m.kind}</td>
      <td data-label="Target" class="settings-target">{target(m)}</td>
      <td data-label="Interval" class="num">{duration(m.interval_s)}</td>
      <td data-label="Status"><Status status={status} /></td>
      <td data-label="Tags"><Tags tags={m.tags} /></td>
      {canEdit && (
        <td class="settings-actions">
          <a class="button" href={href(`/settings/monitors?edit=${encodeURIComponent(m.id)}`)}>Edit<Hidden> {m.name}</Hidden></a>
          <ConfirmButton what={m.name} question={`Delete “${m.name}”?`} onConfirm={() => onDelete(m)} />
        </td>
      )}
    </tr>
  );
});

/** What a monitor checks, in one line. */
function target(m) {
  if (m.kind === 'http') return <span class="mono">{m.method && m.method !== 'GET' ? `${m.method} ` : ''}{m.url}</span>;
  if (m.kind === 'tcp') return <span class="mono">{m.host}:{m.port}</span>;
  if (m.kind === 'dns') return <span class="mono">{m.host} {m.record_type}{m.resolver ? ` @${m.resolver}` : ''}</span>;
  if (m.kind === 'ping') return <span class="mono">{m.host}</span>;
  return <span class="muted">heartbeats to its push URL</span>;
}

/** A push monitor's full heartbeat URL. */
function pushUrlOf(monitor) {
  return new URL(monitor.push_url, location.origin).href;
}

/** A push monitor's URL, copyable. */
function PushUrl({ monitor }) {
  if (!monitor.push_url) return null;
  return <CopyBox label="Push URL" value={pushUrlOf(monitor)} testid="push-url" />;
}

/** Loads monitor `id` and shows its edit form; after a 409 the form shows the current settings. */
function MonitorEdit({ id, onSaved, onCancel }) {
  const [conflict, setConflict] = useState(null);
  const load = useLoad(() => get(`/monitors/${encodeURIComponent(id)}`), [id]);
  if (load.error && !load.data) return <Note kind="error">Could not load the monitor to edit: {load.error.message}</Note>;
  if (!load.data) return <Note>Loading the monitor…</Note>;
  const onConflict = (e) => {
    setConflict(`Someone else changed this monitor (${e.message}). The form now shows its current settings: make your change again.`);
    load.reload();
  };
  return <MonitorForm key={load.data.version} monitor={load.data} notice={conflict} onSaved={onSaved} onCancel={onCancel} onConflict={onConflict} />;
}

/**
 * The create (no `monitor`) or edit form. Edits send only what changed, with If-Match;
 * `onConflict(error)` is told of a 409, `onSaved(monitor, position, created)` of success.
 */
function MonitorForm({ monitor, notice, onSaved, onCancel, onConflict }) {
  const form = useForm(valuesOf(monitor));
  const kind = form.values.kind;
  const names = [...COMMON_FIELDS, ...KIND_FIELDS[kind]];

  const save = () => form.submit(async (values) => {
    if (!monitor) {
      const { data, position } = await send('POST', '/monitors', createBody(values));
      onSaved(data, position, true);
      return;
    }
    const changes = diff(monitorBody(valuesOf(monitor)), monitorBody(values), ['headers', 'json_path']);
    if (Object.keys(changes).length === 0) {
      onSaved(monitor, null, false);
      return;
    }
    const version = await versionFor(monitor);
    try {
      const { data, position } = await send('PATCH', `/monitors/${monitor.id}`, changes, { 'If-Match': `"${version}"` });
      onSaved(data, position, false);
    } catch (e) {
      if (e.status === 409) onConflict(e);
      throw e;
    }
  });

  return (
    <FormPanel title={monitor ? `Edit monitor “${monitor.name}”` : 'New monitor'} form={form} names={names} notice={notice} onSubmit={save} onCancel={onCancel}>
      <div class="form-grid">
        <Field label="Name" {...bind(form, 'name')} required maxLength={200} />
        <Field
          label="Kind"
          {...bind(form, 'kind')}
          disabled={!!monitor}
          hint={monitor ? 'The kind cannot change: create a new monitor instead.' : undefined}
          render={(p) => <select {...p}>{KINDS.map((k) => <option key={k} value={k}>{k}</option>)}</select>}
        />
        <Field label="Tags" {...bind(form, 'tags')} hint="Comma-separated, such as prod, web" />
      </div>
      {kind === 'http' && <HttpFields form={form} />}
      {kind === 'tcp' && <TcpFields form={form} />}
      {kind === 'dns' && <DnsFields form={form} />}
      {kind === 'ping' && <PingFields form={form} />}
      {kind === 'push' && <PushFields form={form} monitor={monitor} />}
      <fieldset>
        <legend>Schedule</legend>
        <div class="form-grid">
          <Field label="Interval (s)" type="number" step="any" {...bind(form, 'interval_s')} hint={kind === 'push' ? 'How often heartbeats are due' : 'Seconds between checks'} />
          {kind !== 'push' && <Field label="Timeout (ms)" type="number" step="any" {...bind(form, 'timeout_ms')} hint="10000, or 80 % of a shorter interval, when empty" />}
          <Field label="Retries" type="number" step="any" {...bind(form, 'retries')} hint="Failures in a row before it is down" />
          <Field label="Recover after" type="number" step="any" {...bind(form, 'recover_after')} hint="Good checks in a row before it is up again" />
        </div>
      </fieldset>
    </FormPanel>
  );
}

/** An http monitor's request and expectations. */
function HttpFields({ form }) {
  const method = form.values.method;
  const methods = METHODS.includes(method) ? METHODS : [...METHODS, method];
  return (
    <>
      <fieldset>
        <legend>Request</legend>
        <div class="form-grid">
          <div class="settings-span2">
            <Field label="URL" {...bind(form, 'url')} required inputMode="url" placeholder="https://example.com/health" />
          </div>
          <Field label="Method" {...bind(form, 'method')} render={(p) => <select {...p}>{methods.map((m) => <option key={m} value={m}>{m}</option>)}</select>} />
          <Field label="Headers" {...bind(form, 'headers')} hint="One a line: Name: value" render={(p) => <textarea rows={3} {...p} />} />
          <Field label="Request body" {...bind(form, 'body')} render={(p) => <textarea rows={3} {...p} />} />
        </div>
        <div class="row">
          <Check form={form} name="follow_redirects" label="Follow redirects" />
          <Check form={form} name="ignore_tls_errors" label="Ignore TLS errors" />
        </div>
      </fieldset>
      <fieldset>
        <legend>Expectations</legend>
        <div class="form-grid">
          <Field label="Expected statuses" {...bind(form, 'expect.status')} placeholder="200-299" hint="Codes or ranges, comma-separated; 200-299 when empty" />
          <Field label="Body contains" {...bind(form, 'expect.body_contains')} />
          <Field label="Body matches (regex)" {...bind(form, 'expect.body_regex')} />
          <Field label="Max latency (ms)" type="number" step="any" {...bind(form, 'expect.max_latency_ms')} />
          <Field label="JSON path" {...bind(form, 'expect.json_path.path')} error={form.errors['expect.json_path.path'] || form.errors['expect.json_path']} placeholder="$.status" />
          <Field label="JSON path equals" {...bind(form, 'expect.json_path.equals')} placeholder='"green"' hint="Any JSON value; other text counts as a string" />
          <Field label="Certificate warning (days)" type="number" step="any" {...bind(form, 'cert_expiry_days')} hint="Days before an HTTPS certificate expires; empty to ignore" />
        </div>
      </fieldset>
    </>
  );
}

/** A tcp monitor's host and port. */
function TcpFields({ form }) {
  return (
    <fieldset>
      <legend>Target</legend>
      <div class="form-grid">
        <Field label="Host" {...bind(form, 'host')} required placeholder="db.example.com" />
        <Field label="Port" type="number" step="any" {...bind(form, 'port')} required />
      </div>
    </fieldset>
  );
}

/** A dns monitor's name, record type, resolver and expected answer. */
function DnsFields({ form }) {
  return (
    <fieldset>
      <legend>Lookup</legend>
      <div class="form-grid">
        <Field label="Host" {...bind(form, 'host')} required placeholder="example.com" hint="The name to look up" />
        <Field label="Record type" {...bind(form, 'record_type')} render={(p) => <select {...p}>{RECORD_TYPES.map((t) => <option key={t} value={t}>{t}</option>)}</select>} />
        <Field label="Resolver" {...bind(form, 'resolver')} placeholder="the system's" hint="An IP address, optionally with :port" />
        <Field label="Answer contains" {...bind(form, 'expect.contains')} />
      </div>
    </fieldset>
  );
}

/** A ping monitor's host, packet count, per-packet timeout and loss threshold. */
function PingFields({ form }) {
  return (
    <fieldset>
      <legend>Ping</legend>
      <div class="form-grid">
        <Field label="Host" {...bind(form, 'host')} required placeholder="router.lan or 192.0.2.1" hint="A host name, IPv4 or IPv6 address" />
        <Field label="Packets" type="number" step="any" {...bind(form, 'count')} hint="Echo requests per check, 1 to 10" />
        <Field label="Packet timeout (ms)" type="number" step="any" {...bind(form, 'packet_timeout_ms')} hint="How long each request waits for its reply" />
        <Field label="Max loss (%)" type="number" step="any" {...bind(form, 'max_loss_percent')} hint="Down above this loss; empty: down only when every packet is lost" />
      </div>
    </fieldset>
  );
}

/** A push monitor's grace period and, once created, its URL. */
function PushFields({ form, monitor }) {
  return (
    <fieldset>
      <legend>Heartbeats</legend>
      <div class="form-grid">
        <Field label="Grace (s)" type="number" step="any" {...bind(form, 'grace_s')} hint="How long past the interval before it is down" />
      </div>
      {monitor ? <PushUrl monitor={monitor} /> : <p class="muted">The push URL is shown once the monitor is created.</p>}
    </fieldset>
  );
}

/** The form values of `monitor` (the defaults when none). */
function valuesOf(m) {
  if (!m) return DEFAULTS;
  const s = (v) => (v === null || v === undefined ? '' : String(v));
  const e = m.expect || {};
  return {
    ...DEFAULTS,
    name: m.name, kind: m.kind, tags: (m.tags || []).join(', '), interval_s: s(m.interval_s), timeout_ms: s(m.timeout_ms),
    retries: s(m.retries), recover_after: s(m.recover_after), url: s(m.url), method: m.method || 'GET',
    headers: Object.entries(m.headers || {}).map(([k, v]) => `${k}: ${v}`).join('\n'), body: s(m.body),
    follow_redirects: m.follow_redirects ?? true, ignore_tls_errors: !!m.ignore_tls_errors,
    'expect.status': (e.status || []).join(', '), 'expect.body_contains': s(e.body_contains), 'expect.body_regex': s(e.body_regex),
    'expect.json_path.path': e.json_path ? e.json_path.path : '', 'expect.json_path.equals': e.json_path ? JSON.stringify(e.json_path.equals) : '',
    'expect.max_latency_ms': s(e.max_latency_ms), cert_expiry_days: s(m.cert_expiry_days),
    host: s(m.host), port: s(m.port), record_type: m.record_type || 'A', resolver: s(m.resolver), 'expect.contains': s(e.contains),
    grace_s: s(m.grace_s), count: m.count == null ? DEFAULTS.count : s(m.count),
    packet_timeout_ms: m.packet_timeout_ms == null ? DEFAULTS.packet_timeout_ms : s(m.packet_timeout_ms),
    max_loss_percent: s(m.max_loss_percent),
  };
}

/** The API body of the form values: every field of the kind, null where empty. */
function monitorBody(v) {
  const common = {
    name: v.name, interval_s: num(v.interval_s), timeout_ms: v.kind === 'push' ? null : num(v.timeout_ms),
    retries: num(v.retries), recover_after: num(v.recover_after), tags: splitList(v.tags),
  };
  return { ...common, ...KIND_BODY[v.kind](v) };
}

/** The kind-specific part of a monitor's API body. */
const KIND_BODY = {
  http: (v) => ({
    url: text(v.url), method: text(v.method), headers: headersOf(v.headers), body: v.body === '' ? null : v.body,
    follow_redirects: v.follow_redirects, ignore_tls_errors: v.ignore_tls_errors, cert_expiry_days: num(v.cert_expiry_days),
    expect: {
      status: splitList(v['expect.status']), body_contains: text(v['expect.body_contains']), body_regex: text(v['expect.body_regex']),
      max_latency_ms: num(v['expect.max_latency_ms']), json_path: jsonPathOf(v),
    },
  }),
  tcp: (v) => ({ host: text(v.host), port: num(v.port) }),
  dns: (v) => ({ host: text(v.host), record_type: text(v.record_type), resolver: text(v.resolver), expect: { contains: text(v['expect.contains']) } }),
  ping: (v) => ({ host: text(v.host), count: num(v.count), packet_timeout_ms: num(v.packet_timeout_ms), max_loss_percent: num(v.max_loss_percent) }),
  push: (v) => ({ grace_s: num(v.grace_s) }),
};

/** The create body: the kind, and only the fields given. */
function createBody(values) {
  const body = prune({ kind: values.kind, ...monitorBody(values) });
  if (body.expect?.status?.length === 0) delete body.expect.status;
  return body;
}

/** Header lines (`Name: value`) as an object. */
function headersOf(lines) {
  const pairs = String(lines || '').split('\n').filter((l) => l.trim()).map((line) => {
    const at = line.indexOf(':');
    return at < 0 ? [line.trim(), ''] : [line.slice(0, at).trim(), line.slice(at + 1).trim()];
  });
  return Object.fromEntries(pairs);
}

/** The `expect.json_path` of the form: null without a path; `equals` parsed as JSON when it is. */
function jsonPathOf(v) {
  const path = text(v['expect.json_path.path']);
  if (!path) return null;
  const raw = v['expect.json_path.equals'];
  let equals = raw;
  try {
    equals = JSON.parse(raw);
  } catch {
    // Not JSON: the text itself is the expected string.
  }
  return { path, equals };
}

/**
 * The version to send in If-Match. Each check adds to a monitor's stream, so the latest
 * version is used when only checks moved it on; if its settings changed since the form
 * opened, the form's own version, so that the API answers 409.
 */
async function versionFor(monitor) {
  const fresh = await get(`/monitors/${monitor.id}`);
  const same = JSON.stringify(monitorBody(valuesOf(fresh))) === JSON.stringify(monitorBody(valuesOf(monitor)));
  return same ? fresh.version : monitor.version;
}
