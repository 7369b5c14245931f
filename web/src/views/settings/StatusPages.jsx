// Settings › Status pages: public pages at `/status/<slug>` showing chosen monitors, with
// incidents (and their updates) and maintenance announcements posted by operators.

import { useState } from 'preact/hooks';
import { dateTime } from '../../lib/format.js';
import { Field, useForm } from '../../components/Field.jsx';
import {
  Check, ConfirmButton, Flash, FormPanel, Hidden, ListState, SectionHead,
  bind, failed, prune, send, text, toLocalInput, toUtc, useList, useLiveReload,
} from './parts.jsx';

const PAGE_FIELDS = ['slug', 'title', 'description', 'groups', 'show_errors'];
const STATUSES = ['investigating', 'identified', 'monitoring', 'resolved'];
const IMPACTS = ['none', 'minor', 'major', 'critical'];

/** The Status pages tab: list, add, delete; incidents, updates and maintenance per page. */
export function StatusPagesTab({ canEdit, isAdmin }) {
  const list = useList('/status-pages', 'status_pages');
  const monitors = useList('/monitors', 'monitors');
  // 'new', or `{slug, form: 'edit'|'incident'|'maintenance'|'update'|'edit-incident'|'edit-maintenance', incident?, maintenance?}`.
  const [open, setOpen] = useState(null);
  const [flash, setFlash] = useState(null);
  useLiveReload(isAdmin ? 'events' : null, /^(StatusPage|Incident|Maintenance)/, list.reloadAt);

  const done = (message, position) => {
    setFlash({ kind: 'ok', text: message });
    setOpen(null);
    list.reloadAt(position);
  };
  const start = (what) => {
    setFlash(null);
    setOpen(what);
  };
  const remove = async (p) => {
    try {
      const { position } = await send('DELETE', `/status-pages/${p.slug}`);
      done(`Deleted the status page ${p.slug}.`, position);
    } catch (e) {
      setFlash(failed('delete the status page', e));
    }
  };
  const cancelMaintenance = async (slug, m) => {
    try {
      const { position } = await send('DELETE', `/status-pages/${slug}/maintenance/${m.id}`);
      done(`Cancelled the maintenance ${m.title}.`, position);
    } catch (e) {
      setFlash(failed('cancel the maintenance', e));
    }
  };
  const names = new Map((monitors.data || []).map((m) => [m.id, m.name]));
  return (
    <section aria-labelledby="settings-status-pages">
      <SectionHead id="settings-status-pages" title="Status pages" addLabel="Add status page" canEdit={canEdit} onAdd={open === 'new' ? null : () => start('new')} />
      <p class="muted">A status page is public: anyone can open it without signing in. It shows the monitors you choose by name and status only.</p>
      <Flash flash={flash} />
      {canEdit && open === 'new' && (
        <PageForm monitors={monitors.data || []} onSaved={(p, pos) => done(`Added the status page ${p.slug}.`, pos)} onCancel={() => setOpen(null)} />
      )}
      <ListState list={list} what="the status pages" empty="No status pages.">
        {(rows) => rows.map((p) => (
          <article key={p.slug} class="panel" data-testid="settings-row" data-id={p.slug}>
            <div class="row">
              <h3 style="margin:0">{p.title}</h3>
              <a href={`/status/${p.slug}`} target="_blank" rel="noopener">/status/{p.slug}</a>
              <span class="muted">{p.groups.reduce((n, g) => n + g.monitors.length, 0)} monitors</span>
              {canEdit && (
                <span class="settings-actions">
                  <button type="button" onClick={() => start({ slug: p.slug, form: 'edit' })}>Edit<Hidden> {p.slug}</Hidden></button>
                  <button type="button" onClick={() => start({ slug: p.slug, form: 'incident' })}>Post incident<Hidden> on {p.slug}</Hidden></button>
                  <button type="button" onClick={() => start({ slug: p.slug, form: 'maintenance' })}>Announce maintenance<Hidden> on {p.slug}</Hidden></button>
                  <ConfirmButton what={p.slug} question="Delete this status page?" onConfirm={() => remove(p)} />
                </span>
              )}
            </div>
            <p class="muted">{p.groups.map((g) => `${g.name}: ${g.monitors.map((m) => names.get(m) || m).join(', ') || '—'}`).join(' · ')}</p>
            {canEdit && open?.slug === p.slug && open.form === 'edit' && (
              <PageEditForm page={p} monitors={monitors.data || []} onSaved={(pos) => done(`Saved the status page ${p.slug}.`, pos)} onCancel={() => setOpen(null)} />
            )}
            {canEdit && open?.slug === p.slug && open.form === 'incident' && (
              <IncidentForm slug={p.slug} onSaved={(pos) => done('Posted the incident.', pos)} onCancel={() => setOpen(null)} />
            )}
            {canEdit && open?.slug === p.slug && open.form === 'maintenance' && (
              <MaintenanceForm slug={p.slug} onSaved={(pos) => done('Announced the maintenance.', pos)} onCancel={() => setOpen(null)} />
            )}
            {p.incidents.length > 0 && (
              <ul class="settings-incidents">
                {p.incidents.map((i) => (
                  <li key={i.id}>
                    <strong>{i.title}</strong> <span class={`status status-${i.status === 'resolved' ? 'resolved' : 'pending'}`}>{i.status}</span>
                    <span class="muted"> {i.impact} · {dateTime(i.opened_at)}</span>
                    {canEdit && i.status !== 'resolved' && (
                      <button type="button" onClick={() => start({ slug: p.slug, form: 'update', incident: i.id })}>Update<Hidden> {i.title}</Hidden></button>
                    )}
                    {canEdit && (
                      <button type="button" onClick={() => start({ slug: p.slug, form: 'edit-incident', incident: i.id })}>Edit<Hidden> {i.title}</Hidden></button>
                    )}
                    {canEdit && open?.incident === i.id && open.form === 'edit-incident' && (
                      <IncidentEditForm slug={p.slug} incident={i} onSaved={(pos) => done('Saved the incident.', pos)} onCancel={() => setOpen(null)} />
                    )}
                    {canEdit && open?.incident === i.id && open.form === 'update' && (
                      <UpdateForm slug={p.slug} id={i.id} onSaved={(pos) => done('Added the update.', pos)} onCancel={() => setOpen(null)} />
                    )}
                  </li>
                ))}
              </ul>
            )}
            {p.maintenance.length > 0 && (
              <ul class="settings-incidents">
                {p.maintenance.map((m) => (
                  <li key={m.id}>
                    Maintenance <strong>{m.title}</strong> <span class="muted">{dateTime(m.starts_at)} – {dateTime(m.ends_at)} ({m.phase})</span>
                    {canEdit && m.phase !== 'ended' && (
                      <span class="settings-actions">
                        <button type="button" onClick={() => start({ slug: p.slug, form: 'edit-maintenance', maintenance: m.id })}>Edit<Hidden> {m.title}</Hidden></button>
                        <ConfirmButton verb="Cancel" what={m.title} question="Cancel this maintenance?" onConfirm={() => cancelMaintenance(p.slug, m)} />
                      </span>
                    )}
                    {canEdit && open?.maintenance === m.id && (
                      <MaintenanceForm slug={p.slug} current={m} onSaved={(pos) => done('Saved the maintenance.', pos)} onCancel={() => setOpen(null)} />
                    )}
                  </li>
                ))}
              </ul>
            )}
          </article>
        ))}
      </ListState>
    </section>
  );
}

/** A new page: its slug, title, description, the monitors it shows (one group), errors shown or not. */
function PageForm({ monitors, onSaved, onCancel }) {
  const form = useForm({ slug: '', title: '', description: '', group: 'Services', show_errors: false });
  const [chosen, setChosen] = useState(() => new Set());
  const toggle = (id) => setChosen((s) => {
    const next = new Set(s);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    return next;
  });
  const save = () => form.submit(async (v) => {
    const body = prune({
      slug: text(v.slug), title: text(v.title), description: text(v.description),
      groups: [{ name: text(v.group) || 'Services', monitors: [...chosen] }],
      show_errors: !!v.show_errors,
    });
    const { data, position } = await send('POST', '/status-pages', body);
    onSaved(data, position);
  });
  return (
    <FormPanel title="New status page" form={form} names={PAGE_FIELDS} onSubmit={save} onCancel={onCancel}>
      <div class="form-grid">
        <Field label="Slug" {...bind(form, 'slug')} required placeholder="acme" hint="a-z, 0-9 and -: the page is /status/<slug>" />
        <Field label="Title" {...bind(form, 'title')} required placeholder="Acme status" />
        <Field label="Description" {...bind(form, 'description')} />
        <Field label="Group name" {...bind(form, 'group')} />
      </div>
      <fieldset class={form.errors.groups ? 'settings-group-error' : undefined}>
        <legend>Monitors shown</legend>
        {monitors.map((m) => (
          <label key={m.id} class="field-check"><input type="checkbox" checked={chosen.has(m.id)} onChange={() => toggle(m.id)} /> {m.name}</label>
        ))}
        {form.errors.groups && <small class="error" role="alert">{form.errors.groups}</small>}
      </fieldset>
      <Check form={form} name="show_errors" label="Show why a monitor is down" />
    </FormPanel>
  );
}

function IncidentForm({ slug, onSaved, onCancel }) {
  const form = useForm({ title: '', impact: 'minor', status: 'investigating', message: '' });
  const save = () => form.submit(async (v) => {
    const { position } = await send('POST', `/status-pages/${slug}/incidents`, prune({
      title: text(v.title), impact: v.impact, status: v.status, message: text(v.message),
    }));
    onSaved(position);
  });
  return (
    <FormPanel title="New incident" form={form} names={['title', 'impact', 'status', 'message']} onSubmit={save} onCancel={onCancel}>
      <div class="form-grid">
        <Field label="Title" {...bind(form, 'title')} required />
        <Field label="Impact" {...bind(form, 'impact')} render={(p) => <select {...p}>{IMPACTS.map((i) => <option key={i}>{i}</option>)}</select>} />
        <Field label="Status" {...bind(form, 'status')} render={(p) => <select {...p}>{STATUSES.map((s) => <option key={s}>{s}</option>)}</select>} />
        <Field label="Message" {...bind(form, 'message')} render={(p) => <textarea {...p} rows={3} />} />
      </div>
    </FormPanel>
  );
}

function UpdateForm({ slug, id, onSaved, onCancel }) {
  const form = useForm({ status: 'identified', message: '' });
  const save = () => form.submit(async (v) => {
    const { position } = await send('POST', `/status-pages/${slug}/incidents/${id}/updates`, { status: v.status, message: v.message });
    onSaved(position);
  });
  return (
    <FormPanel title="Incident update" form={form} names={['status', 'message']} onSubmit={save} onCancel={onCancel}>
      <div class="form-grid">
        <Field label="Status" {...bind(form, 'status')} render={(p) => <select {...p}>{STATUSES.map((s) => <option key={s}>{s}</option>)}</select>} />
        <Field label="Message" {...bind(form, 'message')} required render={(p) => <textarea {...p} rows={3} />} />
      </div>
    </FormPanel>
  );
}

/** A new maintenance announcement, or a change to `current`. */
function MaintenanceForm({ slug, current, onSaved, onCancel }) {
  const initial = current
    ? { title: current.title, message: current.message || '', starts_at: toLocalInput(current.starts_at), ends_at: toLocalInput(current.ends_at) }
    : { title: '', message: '', starts_at: '', ends_at: '' };
  const form = useForm(initial);
  // An edit sends a time only when it was changed: the inputs hold minutes, not seconds.
  const time = (v, name) => (current && v[name] === initial[name] ? null : toUtc(v[name]));
  const save = () => form.submit(async (v) => {
    const body = {
      title: text(v.title), message: v.message, starts_at: time(v, 'starts_at'), ends_at: time(v, 'ends_at'),
    };
    const { position } = current
      ? await send('PATCH', `/status-pages/${slug}/maintenance/${current.id}`, prune(body))
      : await send('POST', `/status-pages/${slug}/maintenance`, prune({ ...body, message: text(v.message) }));
    onSaved(position);
  });
  return (
    <FormPanel title={current ? 'Edit maintenance' : 'New maintenance'} form={form} names={['title', 'message', 'starts_at', 'ends_at']} onSubmit={save} onCancel={onCancel}>
      <div class="form-grid">
        <Field label="Title" {...bind(form, 'title')} required />
        <Field label="Message" {...bind(form, 'message')} />
        <Field label="Starts" type="datetime-local" {...bind(form, 'starts_at')} required hint="Your local time" />
        <Field label="Ends" type="datetime-local" {...bind(form, 'ends_at')} required hint="Your local time" />
      </div>
    </FormPanel>
  );
}

/** A change to an incident's title or impact; its status changes by updates. */
function IncidentEditForm({ slug, incident, onSaved, onCancel }) {
  const form = useForm({ title: incident.title, impact: incident.impact });
  const save = () => form.submit(async (v) => {
    const { position } = await send('PATCH', `/status-pages/${slug}/incidents/${incident.id}`, prune({
      title: text(v.title), impact: v.impact,
    }));
    onSaved(position);
  });
  return (
    <FormPanel title="Edit incident" form={form} names={['title', 'impact']} onSubmit={save} onCancel={onCancel}>
      <div class="form-grid">
        <Field label="Title" {...bind(form, 'title')} required />
        <Field label="Impact" {...bind(form, 'impact')} render={(p) => <select {...p}>{IMPACTS.map((i) => <option key={i}>{i}</option>)}</select>} />
      </div>
    </FormPanel>
  );
}

/** A page's settings and groups: add, rename and remove groups, choose each group's monitors. */
function PageEditForm({ page, monitors, onSaved, onCancel }) {
  const form = useForm({ title: page.title, description: page.description, show_errors: page.show_errors });
  const [groups, setGroups] = useState(() => page.groups.map((g) => ({ name: g.name, monitors: [...g.monitors] })));
  const change = (i, f) => setGroups((gs) => gs.map((g, j) => (j === i ? f(g) : g)));
  const toggle = (i, id) => change(i, (g) => ({
    ...g, monitors: g.monitors.includes(id) ? g.monitors.filter((m) => m !== id) : [...g.monitors, id],
  }));
  const save = () => form.submit(async (v) => {
    const { position } = await send('PATCH', `/status-pages/${page.slug}`, {
      title: text(v.title) || '', description: v.description || '', show_errors: !!v.show_errors,
      groups: groups.map((g) => ({ name: g.name, monitors: g.monitors })),
    });
    onSaved(position);
  });
  return (
    <FormPanel title={`Edit ${page.slug}`} form={form} names={PAGE_FIELDS} onSubmit={save} onCancel={onCancel}>
      <div class="form-grid">
        <Field label="Title" {...bind(form, 'title')} required />
        <Field label="Description" {...bind(form, 'description')} />
      </div>
      <Check form={form} name="show_errors" label="Show why a monitor is down" />
      {groups.map((g, i) => (
        <fieldset key={i} class={form.errors.groups ? 'settings-group-error' : undefined}>
          <legend>Group {i + 1}</legend>
          <div class="row">
            <label>Name <input value={g.name} required onInput={(e) => { const name = e.currentTarget.value; change(i, (x) => ({ ...x, name })); }} /></label>
            <button type="button" class="danger" onClick={() => setGroups((gs) => gs.filter((_, j) => j !== i))}>Remove group<Hidden> {g.name}</Hidden></button>
          </div>
          {monitors.map((m) => (
            <label key={m.id} class="field-check"><input type="checkbox" checked={g.monitors.includes(m.id)} onChange={() => toggle(i, m.id)} /> {m.name}</label>
          ))}
        </fieldset>
      ))}
      {form.errors.groups && <small class="error" role="alert">{form.errors.groups}</small>}
      <button type="button" onClick={() => setGroups((gs) => [...gs, { name: `Group ${gs.length + 1}`, monitors: [] }])}>Add group</button>
    </FormPanel>
  );
}
