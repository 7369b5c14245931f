// Settings › Silences: mute the alerts matching every matcher (tag, monitor, host, rule,
// severity) for a while; times are entered in the viewer's time and sent as UTC. The API
// cannot change a silence: an edit adds a new one, then lifts the old (as Alertmanager does).

import { useState } from 'preact/hooks';
import { dateTime } from '../../lib/format.js';
import { Field, useForm } from '../../components/Field.jsx';
import {
  ConfirmButton, Flash, FormPanel, Hidden, ListState, SectionHead,
  bind, failed, prune, send, text, toLocalInput, toUtc, useList, useLiveReload,
} from './parts.jsx';

const MATCHERS = ['tag', 'monitor', 'host', 'rule', 'severity'];
const FIELDS = ['matchers', ...MATCHERS.map((m) => `matchers.${m}`), 'starts_at', 'ends_at', 'comment'];
const SEVERITIES = ['critical', 'warning', 'info'];

/**
 * A new silence's values: from now, for an hour; or those of `silence`, to replace it (its
 * start only while still to come: an active one's replacement starts now).
 */
function valuesOf(silence) {
  if (!silence) {
    const values = { starts_at: '', ends_at: toLocalInput(new Date(Date.now() + 3600000)), comment: '' };
    for (const m of MATCHERS) values[`matchers.${m}`] = '';
    return values;
  }
  const values = {
    starts_at: stateOf(silence) === 'scheduled' ? toLocalInput(silence.starts_at) : '',
    ends_at: toLocalInput(silence.ends_at),
    comment: silence.comment || '',
  };
  for (const m of MATCHERS) values[`matchers.${m}`] = silence.matchers[m] ?? '';
  return values;
}

/** The Silences tab: list, add, edit (replace), delete (lift now). */
export function SilencesTab({ canEdit, isAdmin }) {
  const list = useList('/silences', 'silences');
  const monitors = useList('/monitors', 'monitors');
  const hosts = useList('/hosts', 'hosts');
  const rules = useList('/alert-rules', 'rules');
  // 'new', or the silence being replaced as listed when its form opened.
  const [open, setOpen] = useState(null);
  const [flash, setFlash] = useState(null);
  useLiveReload(isAdmin ? 'events' : null, /^Silence/, list.reloadAt);

  const saved = (silence, position, replaced) => {
    setFlash(replaced?.error
      ? failed(`lift the old silence (the new one, until ${dateTime(silence.ends_at)}, is in force)`, replaced.error)
      : { kind: 'ok', text: `${replaced ? 'Replaced the silence with one' : 'Added a silence'} until ${dateTime(silence.ends_at)}.` });
    setOpen(null);
    list.reloadAt(position);
  };
  const start = (what) => {
    setFlash(null);
    setOpen(what);
  };
  const remove = async (s) => {
    try {
      const { position } = await send('DELETE', `/silences/${s.id}`);
      setFlash({ kind: 'ok', text: 'Lifted the silence: its alerts notify again.' });
      if (open?.id === s.id) setOpen(null);
      list.reloadAt(position);
    } catch (e) {
      setFlash(failed('lift the silence', e));
    }
  };

  const refs = { monitors: monitors.data || [], hosts: hosts.data || [], rules: rules.data || [] };
  const names = {
    monitor: new Map(refs.monitors.map((m) => [m.id, m.name])),
    rule: new Map(refs.rules.map((r) => [r.id, r.name])),
  };
  return (
    <section aria-labelledby="settings-silences">
      <SectionHead id="settings-silences" title="Silences" addLabel="Add silence" canEdit={canEdit} onAdd={open === 'new' ? null : () => start('new')} />
      <p class="muted">A silenced alert still fires and is recorded, but notifies nobody until the silence ends.</p>
      <Flash flash={flash} />
      {canEdit && open === 'new' && <SilenceForm refs={refs} onSaved={saved} onCancel={() => setOpen(null)} />}
      {canEdit && open && open !== 'new' && <SilenceForm key={open.id} silence={open} refs={refs} onSaved={saved} onCancel={() => setOpen(null)} />}
      <ListState list={list} what="the silences" empty="No silences.">
        {(rows) => (
          <div class="table-wrap">
            <table class="settings-table">
              <thead>
                <tr><th>Matchers</th><th>Starts</th><th>Ends</th><th>Comment</th><th>State</th>{canEdit && <th><span class="settings-sr">Actions</span></th>}</tr>
              </thead>
              <tbody>
                {[...rows].sort(byCurrentThenEnd).map((s) => {
                  const state = stateOf(s);
                  return (
                    <tr key={s.id} data-testid="settings-row" data-id={s.id} class={state === 'active' || state === 'scheduled' ? undefined : 'settings-past'}>
                      <td data-label="Matchers"><Matchers matchers={s.matchers} names={names} /></td>
                      <td data-label="Starts">{dateTime(s.starts_at)}</td>
                      <td data-label="Ends">{dateTime(s.lifted_at || s.ends_at)}</td>
                      <td data-label="Comment">{s.comment || <span class="muted">—</span>}</td>
                      <td data-label="State"><span class={`settings-state settings-state-${state}`}>{state}</span></td>
                      {canEdit && (
                        <td class="settings-actions">
                          {(state === 'active' || state === 'scheduled') && (
                            <>
                              <button type="button" onClick={() => start(s)}>Edit<Hidden> silence</Hidden></button>
                              <ConfirmButton what="silence" question="Lift this silence now?" onConfirm={() => remove(s)} />
                            </>
                          )}
                        </td>
                      )}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </ListState>
    </section>
  );
}

/** Silences still in force (or to come) first, then the rest; latest end first. */
function byCurrentThenEnd(a, b) {
  const past = (s) => (['lifted', 'ended'].includes(stateOf(s)) ? 1 : 0);
  return past(a) - past(b) || b.ends_at.localeCompare(a.ends_at);
}

/** Where a silence stands: active, scheduled, lifted or ended. */
function stateOf(s, now = Date.now()) {
  if (s.lifted_at) return 'lifted';
  if (new Date(s.ends_at).getTime() <= now) return 'ended';
  if (new Date(s.starts_at).getTime() > now) return 'scheduled';
  return 'active';
}

/** A silence's matchers as `key = value` chips, monitors and rules by name. */
function Matchers({ matchers, names }) {
  return (
    <span class="settings-tags">
      {Object.entries(matchers).map(([k, v]) => (
        <span key={k} class="settings-tag">{k} = {names[k]?.get(v) || v}</span>
      ))}
    </span>
  );
}

/**
 * The form adding a silence, or replacing `silence`: the new one is added, and only once
 * that succeeded is the old one lifted. `onSaved(new, position, replaced)`, where
 * `replaced` is `{error?}` for a replacement (the error of lifting the old one, if any).
 */
function SilenceForm({ silence, refs, onSaved, onCancel }) {
  const form = useForm(valuesOf(silence));
  const save = () => form.submit(async (v) => {
    const matchers = prune(Object.fromEntries(MATCHERS.map((m) => [m, text(v[`matchers.${m}`])])));
    const body = prune({ matchers, starts_at: toUtc(v.starts_at), ends_at: toUtc(v.ends_at), comment: text(v.comment) });
    const { data, position } = await send('POST', '/silences', body);
    if (!silence) {
      onSaved(data, position);
      return;
    }
    try {
      const lifted = await send('DELETE', `/silences/${silence.id}`);
      onSaved(data, Math.max(position || 0, lifted.position || 0) || null, {});
    } catch (error) {
      onSaved(data, position, { error });
    }
  });
  const matchersError = MATCHERS.some((m) => form.errors[`matchers.${m}`]) ? null : form.errors.matchers;
  // A matcher naming a monitor or rule not (or not yet) listed stays a choice, by its id.
  const pick = (options, name) => (p) => {
    const kept = silence?.matchers[name];
    const all = kept && !options.some(([value]) => value === kept) ? [...options, [kept, kept]] : options;
    return (
      <select {...p}>
        <option value="">any</option>
        {all.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
      </select>
    );
  };
  return (
    <FormPanel title={silence ? 'Edit silence' : 'New silence'} form={form} names={FIELDS} onSubmit={save} onCancel={onCancel}>
      {silence && <p class="muted">Saving replaces this silence with a new one: the new one is added, then this one is lifted.</p>}
      <fieldset class={matchersError ? 'settings-group-error' : undefined} aria-describedby={matchersError ? 'settings-matchers-error' : undefined}>
        <legend>Matchers</legend>
        <p class="muted">Alerts matching every matcher given are silenced.</p>
        <div class="form-grid">
          <Field label="Tag" {...bind(form, 'matchers.tag')} placeholder="prod" />
          <Field label="Monitor" {...bind(form, 'matchers.monitor')} render={pick(refs.monitors.map((m) => [m.id, m.name]), 'monitor')} />
          <Field label="Host" {...bind(form, 'matchers.host')} list="settings-silence-hosts" placeholder="db-1" />
          <datalist id="settings-silence-hosts">{refs.hosts.map((h) => <option key={h.hostname} value={h.hostname} />)}</datalist>
          <Field label="Rule" {...bind(form, 'matchers.rule')} render={pick(refs.rules.map((r) => [r.id, r.name]), 'rule')} />
          <Field label="Severity" {...bind(form, 'matchers.severity')} render={pick(SEVERITIES.map((s) => [s, s]), 'severity')} />
        </div>
        {matchersError && <small id="settings-matchers-error" class="error" role="alert">{matchersError}</small>}
      </fieldset>
      <div class="form-grid">
        <Field label="Starts" type="datetime-local" {...bind(form, 'starts_at')} hint="Your local time; now when empty" />
        <Field label="Ends" type="datetime-local" {...bind(form, 'ends_at')} required hint="Your local time" />
        <Field label="Comment" {...bind(form, 'comment')} placeholder="deploy" />
      </div>
    </FormPanel>
  );
}
