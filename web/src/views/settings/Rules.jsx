// Settings › Alert rules: when an alert fires (monitor down, a host metric past a threshold,
// a host gone silent, a certificate near expiry), how severe it is, and who hears of it.

import { useState } from 'preact/hooks';
import { get } from '../../lib/api.js';
import { duration } from '../../lib/format.js';
import { href } from '../../lib/router.js';
import { Field, useForm } from '../../components/Field.jsx';
import { Status } from '../../components/Bits.jsx';
import {
  ConfirmButton, Flash, FormPanel, Hidden, ListState, SectionHead,
  bind, diff, failed, num, prune, send, text, useList, useLiveReload,
} from './parts.jsx';

const CONDITIONS = [
  ['monitor_down', 'Monitor down'],
  ['host_metric', 'Host metric past a threshold'],
  ['host_stale', 'Host silent (stale)'],
  ['cert_expiry', 'Certificate expiry'],
];
const METRICS = [
  ['cpu_percent', 'CPU %'],
  ['memory_percent', 'Memory %'],
  ['load1', 'Load (1 min)'],
  ['disk_percent', 'Disk use % of a mount point'],
  ['net_rx_bytes_per_s', 'Network received (bytes/s)'],
  ['net_tx_bytes_per_s', 'Network sent (bytes/s)'],
  ['disk_read_bytes_per_s', 'Disk reads (bytes/s)'],
  ['disk_write_bytes_per_s', 'Disk writes (bytes/s)'],
];
const OPS = ['>', '>=', '<', '<='];
const SEVERITIES = ['critical', 'warning', 'info'];
/** Condition kinds about monitors (the others are about hosts). */
const ON_MONITORS = ['monitor_down', 'cert_expiry'];

const DEFAULTS = {
  name: '', severity: 'warning', 'condition.kind': 'monitor_down', subject: 'one', 'condition.monitor': '',
  'condition.host': '', 'condition.tag': '', 'condition.metric': 'cpu_percent', mount: '/', 'condition.op': '>',
  'condition.threshold': '', 'condition.for_s': '0', 'condition.after_s': '0', 'condition.days': '14',
  channels: [], repeat_interval_s: '14400',
};

/** The Alert rules tab: list, create, edit, delete. */
export function RulesTab({ canEdit }) {
  const rules = useList('/alert-rules', 'rules');
  const monitors = useList('/monitors', 'monitors');
  const hosts = useList('/hosts', 'hosts');
  const channels = useList('/channels', 'channels');
  // 'new', or the rule being edited as it was when its form opened.
  const [open, setOpen] = useState(null);
  const [conflict, setConflict] = useState(null);
  const [flash, setFlash] = useState(null);
  useLiveReload('alerts', /^AlertRule/, rules.reloadAt);

  const close = () => {
    setOpen(null);
    setConflict(null);
  };
  const saved = (rule, position, created) => {
    setFlash({ kind: 'ok', text: `${created ? 'Added' : 'Saved'} rule “${rule.name}”.` });
    close();
    rules.reloadAt(position);
  };
  const onConflict = async (e) => {
    setConflict(`Someone else changed this rule (${e.message}). The form now shows its current settings: make your change again.`);
    rules.reloadAt(null);
    try {
      setOpen(await get(`/alert-rules/${open.id}`));
    } catch (err) {
      setConflict(`Someone else changed this rule, and it cannot be read again: ${err.message}`);
    }
  };
  const remove = async (r) => {
    try {
      const { position } = await send('DELETE', `/alert-rules/${r.id}`);
      setFlash({ kind: 'ok', text: `Deleted rule “${r.name}”: its alerts are resolved.` });
      if (open?.id === r.id) close();
      rules.reloadAt(position);
    } catch (e) {
      setFlash(failed(`delete “${r.name}”`, e));
    }
  };
  const start = (what) => {
    setFlash(null);
    setConflict(null);
    setOpen(what);
  };

  const editing = open && open !== 'new' ? open : null;
  const refs = { monitors: monitors.data || [], hosts: hosts.data || [], channels: channels.data || [] };
  return (
    <section aria-labelledby="settings-rules">
      <SectionHead id="settings-rules" title="Alert rules" addLabel="Add rule" canEdit={canEdit} onAdd={open === 'new' ? null : () => start('new')} />
      <Flash flash={flash} />
      {canEdit && open === 'new' && <RuleForm refs={refs} onSaved={saved} onCancel={close} />}
      {canEdit && editing && (
        <RuleForm key={`${editing.id}-${editing.version}`} rule={editing} refs={refs} notice={conflict} onSaved={saved} onCancel={close} onConflict={onConflict} />
      )}
      <ListState list={rules} what="the alert rules" empty="No alert rules yet.">
        {(rows) => <RuleTable rules={rows} refs={refs} canEdit={canEdit} onEdit={start} onDelete={remove} />}
      </ListState>
    </section>
  );
}

/** The rules as a table: name, condition, severity, channels, repeat. */
function RuleTable({ rules, refs, canEdit, onEdit, onDelete }) {
  const monitorNames = new Map(refs.monitors.map((m) => [m.id, m.name]));
  const channelNames = new Map(refs.channels.map((c) => [c.id, c.name]));
  const sorted = [...rules].sort((a, b) => a.name.localeCompare(b.name));
  return (
    <div class="table-wrap">
      <table class="settings-table">
        <thead>
          <tr><th>Name</th><th>Condition</th><th>Severity</th><th>Channels</th><th>Repeat</th>{canEdit && <th><span class="settings-sr">Actions</span></th>}</tr>
        </thead>
        <tbody>
          {sorted.map((r) => (
            <tr key={r.id} data-testid="settings-row" data-id={r.id}>
              <td data-label="Name">{r.name}</td>
              <td data-label="Condition">{describe(r.condition, monitorNames)}</td>
              <td data-label="Severity"><Status status={r.severity} /></td>
              <td data-label="Channels">{r.channels.length ? r.channels.map((id) => channelNames.get(id) || id).join(', ') : <span class="muted">none</span>}</td>
              <td data-label="Repeat">{r.repeat_interval_s ? `every ${duration(r.repeat_interval_s)}` : 'never'}</td>
              {canEdit && (
                <td class="settings-actions">
                  <button type="button" onClick={() => onEdit(r)}>Edit<Hidden> {r.name}</Hidden></button>
                  <ConfirmButton what={r.name} question={`Delete “${r.name}”?`} onConfirm={() => onDelete(r)} />
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A condition in words, such as "cpu_percent > 90 on hosts tagged prod, for 5 min". */
function describe(c, monitorNames) {
  const monitor = c.monitor ? `monitor ${monitorNames.get(c.monitor) || c.monitor}` : `monitors tagged ${c.tag}`;
  const host = c.host ? `host ${c.host}` : `hosts tagged ${c.tag}`;
  const words = {
    monitor_down: () => `${monitor} down`,
    host_metric: () => `${c.metric} ${c.op} ${c.threshold} on ${host}`,
    host_stale: () => `${host} silent ${c.after_s ? `for ${duration(c.after_s)}` : 'past its window'}`,
    cert_expiry: () => `certificate of ${monitor} expires within ${c.days} d`,
  }[c.kind];
  const s = words ? words() : c.kind;
  return c.for_s ? `${s}, for ${duration(c.for_s)}` : s;
}

/**
 * The create (no `rule`) or edit form. Edits send only what changed, with If-Match;
 * `onConflict(error)` is told of a 409.
 */
function RuleForm({ rule, refs, notice, onSaved, onCancel, onConflict }) {
  const form = useForm(valuesOf(rule));
  const v = form.values;
  const kind = v['condition.kind'];
  const onMonitors = ON_MONITORS.includes(kind);
  const subjectField = v.subject === 'tag' ? 'condition.tag' : onMonitors ? 'condition.monitor' : 'condition.host';
  const subjectNames = v.subject === 'tag' ? ['condition.tag', 'condition.monitor', 'condition.host'] : [subjectField];
  const names = ['name', 'severity', 'channels', 'repeat_interval_s', 'condition.kind', 'condition.for_s', ...subjectNames, ...KIND_NAMES[kind]];

  const save = () => form.submit(async (values) => {
    if (!rule) {
      const { data, position } = await send('POST', '/alert-rules', prune(ruleBody(values)));
      onSaved(data, position, true);
      return;
    }
    const changes = diff(ruleBody(valuesOf(rule)), ruleBody(values), ['condition']);
    if (Object.keys(changes).length === 0) {
      onSaved(rule, null, false);
      return;
    }
    try {
      const { data, position } = await send('PATCH', `/alert-rules/${rule.id}`, changes, { 'If-Match': `"${rule.version}"` });
      onSaved(data, position, false);
    } catch (e) {
      if (e.status === 409) onConflict(e);
      throw e;
    }
  });
  // A missing subject is reported at the monitor (or host); with a tag chosen, show it there.
  const subjectError = form.errors[subjectField] || (v.subject === 'tag' ? form.errors['condition.monitor'] || form.errors['condition.host'] : undefined);

  return (
    <FormPanel title={rule ? `Edit rule “${rule.name}”` : 'New alert rule'} form={form} names={names} notice={notice} onSubmit={save} onCancel={onCancel}>
      <div class="form-grid">
        <Field label="Name" {...bind(form, 'name')} required maxLength={200} />
        <Field label="Severity" {...bind(form, 'severity')} render={(p) => <select {...p}>{SEVERITIES.map((s) => <option key={s} value={s}>{s}</option>)}</select>} />
      </div>
      <fieldset>
        <legend>Condition</legend>
        <div class="form-grid">
          <Field label="Condition" {...bind(form, 'condition.kind')} render={(p) => <select {...p}>{CONDITIONS.map(([k, l]) => <option key={k} value={k}>{l}</option>)}</select>} />
          <Field
            label="Applies to"
            {...bind(form, 'subject')}
            render={(p) => (
              <select {...p}>
                <option value="one">{onMonitors ? 'One monitor' : 'One host'}</option>
                <option value="tag">{onMonitors ? 'Every monitor with a tag' : 'Every host with a tag'}</option>
              </select>
            )}
          />
          <SubjectField form={form} field={subjectField} error={subjectError} refs={refs} />
          <KindFields form={form} kind={kind} />
          <Field label="For (s)" type="number" step="any" {...bind(form, 'condition.for_s')} hint="How long it must hold before the alert fires; 0 at once" />
        </div>
      </fieldset>
      <ChannelPicker form={form} channels={refs.channels} />
      <div class="form-grid">
        <Field label="Repeat every (s)" type="number" step="any" {...bind(form, 'repeat_interval_s')} hint="Notify again while firing and unacknowledged; 0 for never" />
      </div>
    </FormPanel>
  );
}

/** The fields each condition kind adds, by their API names. */
const KIND_NAMES = {
  monitor_down: [],
  host_metric: ['condition.metric', 'condition.op', 'condition.threshold'],
  host_stale: ['condition.after_s'],
  cert_expiry: ['condition.days'],
};

/** The monitor (a choice), host (a known one or any name) or tag the rule watches. */
function SubjectField({ form, field, error, refs }) {
  if (field === 'condition.tag') return <Field label="Tag" {...bind(form, field)} error={error} placeholder="prod" />;
  if (field === 'condition.monitor') {
    const monitors = [...refs.monitors].sort((a, b) => a.name.localeCompare(b.name));
    return (
      <Field
        label="Monitor"
        {...bind(form, field)}
        error={error}
        render={(p) => (
          <select {...p}>
            <option value="">Choose a monitor</option>
            {monitors.map((m) => <option key={m.id} value={m.id}>{m.name} ({m.kind})</option>)}
          </select>
        )}
      />
    );
  }
  return (
    <>
      <Field label="Host" {...bind(form, field)} error={error} list="settings-rule-hosts" placeholder="db-1" />
      <datalist id="settings-rule-hosts">{refs.hosts.map((h) => <option key={h.hostname} value={h.hostname} />)}</datalist>
    </>
  );
}

/** The inputs of one condition kind (metric and threshold, silence, days). */
function KindFields({ form, kind }) {
  if (kind === 'host_metric') {
    const disk = form.values['condition.metric'] === 'disk_percent';
    return (
      <>
        <Field label="Metric" {...bind(form, 'condition.metric')} render={(p) => <select {...p}>{METRICS.map(([k, l]) => <option key={k} value={k}>{l}</option>)}</select>} />
        {disk && <Field label="Mount point" {...bind(form, 'mount')} placeholder="/" />}
        <Field label="Comparison" {...bind(form, 'condition.op')} render={(p) => <select {...p}>{OPS.map((o) => <option key={o} value={o}>{o}</option>)}</select>} />
        <Field label="Threshold" type="number" step="any" {...bind(form, 'condition.threshold')} />
      </>
    );
  }
  if (kind === 'host_stale') return <Field label="Silent for (s)" type="number" step="any" {...bind(form, 'condition.after_s')} hint="0: the host's own window" />;
  if (kind === 'cert_expiry') return <Field label="Days before expiry" type="number" step="any" {...bind(form, 'condition.days')} />;
  return null;
}

/** The channels to notify, as checkboxes. */
function ChannelPicker({ form, channels }) {
  const chosen = form.values.channels;
  const error = form.errors.channels;
  const toggle = (id) => (e) => {
    const on = e.currentTarget.checked;
    form.setValues((v) => ({ ...v, channels: on ? [...v.channels, id] : v.channels.filter((c) => c !== id) }));
  };
  return (
    <fieldset class={error ? 'settings-group-error' : undefined} aria-describedby={error ? 'settings-rule-channels-error' : undefined}>
      <legend>Channels</legend>
      {channels.length === 0 && <p class="muted">No channels yet: <a href={href('/settings/channels')}>add one</a> to be notified.</p>}
      <div class="settings-checks">
        {channels.map((c) => (
          <label key={c.id} class="settings-check">
            <input type="checkbox" name="channels" value={c.id} checked={chosen.includes(c.id)} onChange={toggle(c.id)} />
            {c.name} <span class="muted">({c.kind})</span>
          </label>
        ))}
      </div>
      {error && <small id="settings-rule-channels-error" class="error" role="alert">{error}</small>}
    </fieldset>
  );
}

/** The form values of `rule` (the defaults when none). */
function valuesOf(rule) {
  if (!rule) return DEFAULTS;
  const c = rule.condition;
  const s = (v) => (v === null || v === undefined ? '' : String(v));
  const [metric, mount] = (c.metric || 'cpu_percent').split(/:(.*)/s);
  return {
    ...DEFAULTS,
    name: rule.name, severity: rule.severity, 'condition.kind': c.kind, subject: c.tag ? 'tag' : 'one',
    'condition.monitor': s(c.monitor), 'condition.host': s(c.host), 'condition.tag': s(c.tag),
    'condition.metric': metric, mount: mount ?? '/', 'condition.op': c.op || '>', 'condition.threshold': s(c.threshold),
    'condition.for_s': s(c.for_s), 'condition.after_s': s(c.after_s ?? 0), 'condition.days': s(c.days ?? 14),
    channels: [...rule.channels], repeat_interval_s: s(rule.repeat_interval_s),
  };
}

/** The API body of the form values. */
function ruleBody(v) {
  return { name: v.name, severity: v.severity, condition: conditionOf(v), channels: v.channels, repeat_interval_s: num(v.repeat_interval_s) };
}

/** The `condition` of the form values: its kind's fields only. */
function conditionOf(v) {
  const kind = v['condition.kind'];
  const c = { kind, for_s: num(v['condition.for_s']) };
  if (v.subject === 'tag') c.tag = text(v['condition.tag']);
  else if (ON_MONITORS.includes(kind)) c.monitor = text(v['condition.monitor']);
  else c.host = text(v['condition.host']);
  if (kind === 'host_metric') {
    const metric = v['condition.metric'];
    c.metric = metric === 'disk_percent' ? `disk_percent:${v.mount.trim()}` : metric;
    c.op = v['condition.op'];
    c.threshold = num(v['condition.threshold']);
  }
  if (kind === 'host_stale') c.after_s = num(v['condition.after_s']);
  if (kind === 'cert_expiry') c.days = num(v['condition.days']);
  return prune(c);
}
