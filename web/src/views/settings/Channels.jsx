// Settings › Channels: where notifications go (email, webhook, Slack, Discord), what each
// has sent, failed and still owes; add one, edit one, send a test, delete.

import { useState } from 'preact/hooks';
import { Field, useForm } from '../../components/Field.jsx';
import {
  Check, ConfirmButton, Flash, FormPanel, Hidden, ListState, SectionHead,
  bind, diff, failed, send, splitList, text, useList, useLiveReload,
} from './parts.jsx';

const KINDS = [['email', 'Email'], ['webhook', 'Webhook'], ['slack', 'Slack'], ['discord', 'Discord']];
/** The fields of each kind, by their API names. */
const KIND_FIELDS = { email: ['to'], webhook: ['url', 'secret'], slack: ['webhook_url'], discord: ['webhook_url'] };
const DEFAULTS = { name: '', kind: 'email', to: '', url: '', secret: '', webhook_url: '' };

/** The Channels tab: list with delivery counts, add, edit, send a test, delete. */
export function ChannelsTab({ canEdit, isAdmin }) {
  const list = useList('/channels', 'channels');
  // 'new', or the channel being edited as it was listed when its form opened.
  const [open, setOpen] = useState(null);
  const [testing, setTesting] = useState(null);
  const [flash, setFlash] = useState(null);
  // Notifications move the counts (on `alerts`); only admins may follow every event.
  useLiveReload(isAdmin ? 'events' : 'alerts', /^(Channel|Notification)/, list.reloadAt);

  const saved = (channel, position, created) => {
    setFlash({ kind: 'ok', text: created ? `Added channel “${channel.name}”. Send a test to check it.` : `Saved channel “${channel.name}”.` });
    setOpen(null);
    list.reloadAt(position);
  };
  const start = (what) => {
    setFlash(null);
    setOpen(what);
  };
  const test = async (c) => {
    setTesting(c.id);
    setFlash(null);
    try {
      await send('POST', `/channels/${c.id}/test`);
      setFlash({ kind: 'ok', text: `Test notification delivered through “${c.name}”.` });
    } catch (e) {
      setFlash({ kind: 'error', text: `The test through “${c.name}” failed: ${e.message}` });
    } finally {
      setTesting(null);
    }
  };
  const remove = async (c) => {
    try {
      const { position } = await send('DELETE', `/channels/${c.id}`);
      setFlash({ kind: 'ok', text: `Deleted channel “${c.name}”.` });
      if (open?.id === c.id) setOpen(null);
      list.reloadAt(position);
    } catch (e) {
      setFlash(failed(`delete “${c.name}”`, e));
    }
  };

  return (
    <section aria-labelledby="settings-channels">
      <SectionHead id="settings-channels" title="Channels" addLabel="Add channel" canEdit={canEdit} onAdd={open === 'new' ? null : () => start('new')} />
      <Flash flash={flash} />
      {canEdit && open === 'new' && <ChannelForm onSaved={saved} onCancel={() => setOpen(null)} />}
      {canEdit && open && open !== 'new' && <ChannelForm key={open.id} channel={open} onSaved={saved} onCancel={() => setOpen(null)} />}
      <ListState list={list} what="the channels" empty="No channels yet.">
        {(rows) => (
          <div class="table-wrap">
            <table class="settings-table">
              <thead>
                <tr><th>Name</th><th>Kind</th><th>Destination</th><th class="num">Sent</th><th class="num">Failed</th><th class="num">Owed</th><th>Last error</th>{canEdit && <th><span class="settings-sr">Actions</span></th>}</tr>
              </thead>
              <tbody>
                {[...rows].sort((a, b) => a.name.localeCompare(b.name)).map((c) => (
                  <tr key={c.id} data-testid="settings-row" data-id={c.id}>
                    <td data-label="Name">{c.name}</td>
                    <td data-label="Kind">{c.kind}</td>
                    <td data-label="Destination" class="settings-target">{destination(c)}</td>
                    <td data-label="Sent" class="num">{c.sent ?? 0}</td>
                    <td data-label="Failed" class="num">{c.failed ?? 0}</td>
                    <td data-label="Owed" class="num">{c.owed ?? 0}</td>
                    <td data-label="Last error">{c.last_error ? <span class="settings-error-text">{c.last_error}</span> : <span class="muted">—</span>}</td>
                    {canEdit && (
                      <td class="settings-actions">
                        <button type="button" onClick={() => start(c)}>Edit<Hidden> {c.name}</Hidden></button>
                        <button type="button" disabled={testing === c.id} onClick={() => test(c)}>
                          {testing === c.id ? 'Sending…' : 'Send test'}<Hidden> through {c.name}</Hidden>
                        </button>
                        <ConfirmButton what={c.name} question={`Delete “${c.name}”?`} onConfirm={() => remove(c)} />
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </ListState>
    </section>
  );
}

/** Where a channel sends, as far as it may be shown (secrets never are). */
function destination(c) {
  if (c.kind === 'email') return (c.to || []).join(', ');
  if (c.kind === 'webhook') return <><span class="mono">{c.url}</span>{c.has_secret && <span class="muted"> (signed)</span>}</>;
  return <span class="mono">{c.webhook_url}</span>;
}

/**
 * The create (no `channel`) or edit form; its fields follow the kind. An edit keeps the
 * kind, sends only what changed, and leaves URLs and the secret alone unless a new one is
 * typed: the list shows them redacted, so they cannot be shown to edit.
 */
function ChannelForm({ channel, onSaved, onCancel }) {
  const form = useForm(valuesOf(channel));
  const v = form.values;
  const kind = v.kind;
  const save = () => form.submit(async (values) => {
    if (!channel) {
      const { data, position } = await send('POST', '/channels', channelBody(values));
      onSaved(data, position, true);
      return;
    }
    const changes = editBody(channel, values);
    if (Object.keys(changes).length === 0) {
      onSaved(channel, null, false);
      return;
    }
    const { data, position } = await send('PATCH', `/channels/${channel.id}`, changes);
    onSaved(data, position, false);
  });
  const keep = (what) => (channel ? `Leave empty to keep the current ${what}` : null);
  const current = channel && (channel.url || channel.webhook_url);
  return (
    <FormPanel
      title={channel ? `Edit channel “${channel.name}”` : 'New channel'}
      form={form}
      names={['name', 'kind', ...KIND_FIELDS[kind].filter((f) => !(f === 'secret' && v.remove_secret))]}
      onSubmit={save}
      onCancel={onCancel}
    >
      <div class="form-grid">
        <Field label="Name" {...bind(form, 'name')} required maxLength={200} />
        {channel
          ? <Field label="Kind" name="kind" value={kindLabel(kind)} readOnly error={form.errors.kind} hint="Fixed: add a new channel for another kind" />
          : <Field label="Kind" {...bind(form, 'kind')} render={(p) => <select {...p}>{KINDS.map(([k, l]) => <option key={k} value={k}>{l}</option>)}</select>} />}
        {kind === 'email' && (
          <Field label="Recipients" {...bind(form, 'to')} required hint="Addresses, comma-separated or one a line" render={(p) => <textarea rows={2} {...p} />} />
        )}
        {kind === 'webhook' && (
          <div class="settings-span2">
            <Field
              label="URL"
              {...bind(form, 'url')}
              required={!channel}
              inputMode="url"
              placeholder={current || 'https://pager.example/hook'}
              hint={keep(`URL (${current})`)}
            />
          </div>
        )}
        {kind === 'webhook' && !v.remove_secret && (
          <Field
            label="Secret"
            type="password"
            autocomplete="new-password"
            {...bind(form, 'secret')}
            hint={channel?.has_secret
              ? 'Leave empty to keep the current secret; a new one is never shown again'
              : 'Optional: signs each body (Watchfire-Signature); never shown again'}
          />
        )}
        {kind === 'webhook' && channel?.has_secret && (
          <Check form={form} name="remove_secret" label="Remove the secret (bodies are no longer signed)" />
        )}
        {(kind === 'slack' || kind === 'discord') && (
          <div class="settings-span2">
            <Field
              label="Webhook URL"
              {...bind(form, 'webhook_url')}
              required={!channel}
              inputMode="url"
              placeholder={current || (kind === 'slack' ? 'https://hooks.slack.com/services/…' : 'https://discord.com/api/webhooks/…')}
              hint={channel ? keep(`URL (${current})`) : 'Kept secret: never shown again in full'}
            />
          </div>
        )}
      </div>
    </FormPanel>
  );
}

/** A kind's name as the form shows it. */
function kindLabel(kind) {
  return KINDS.find(([k]) => k === kind)?.[1] || kind;
}

/** The form values of `channel` (the defaults when none): its URLs and secret left empty. */
function valuesOf(channel) {
  if (!channel) return DEFAULTS;
  return { ...DEFAULTS, name: channel.name, kind: channel.kind, to: (channel.to || []).join(', '), remove_secret: false };
}

/** The API body of the form values: the kind's fields only. */
function channelBody(v) {
  const base = { name: v.name, kind: v.kind };
  if (v.kind === 'email') return { ...base, to: splitList(v.to) };
  if (v.kind === 'webhook') {
    const secret = v.secret === '' ? null : v.secret;
    return secret === null ? { ...base, url: text(v.url) } : { ...base, url: text(v.url), secret };
  }
  return { ...base, webhook_url: text(v.webhook_url) };
}

/**
 * The PATCH body of an edit: the name and recipients when changed, a URL or secret only
 * when a new one is typed, and `secret: null` to remove it.
 */
function editBody(channel, v) {
  const changes = diff({ name: channel.name, to: channel.to }, { name: v.name, to: v.kind === 'email' ? splitList(v.to) : undefined });
  const url = text(v.kind === 'webhook' ? v.url : v.webhook_url);
  if (v.kind === 'webhook' && url) changes.url = url;
  if ((v.kind === 'slack' || v.kind === 'discord') && url) changes.webhook_url = url;
  if (v.kind === 'webhook' && v.remove_secret) changes.secret = null;
  else if (v.kind === 'webhook' && v.secret !== '') changes.secret = v.secret;
  return changes;
}
