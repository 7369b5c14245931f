// Settings › Channels: where notifications go (email, webhook, Slack, Discord), what each
// has sent, failed and still owes; add one, send a test, delete.

import { useState } from 'preact/hooks';
import { Field, useForm } from '../../components/Field.jsx';
import {
  ConfirmButton, Flash, FormPanel, Hidden, ListState, SectionHead,
  bind, failed, send, splitList, text, useList, useLiveReload,
} from './parts.jsx';

const KINDS = [['email', 'Email'], ['webhook', 'Webhook'], ['slack', 'Slack'], ['discord', 'Discord']];
/** The fields of each kind, by their API names. */
const KIND_FIELDS = { email: ['to'], webhook: ['url', 'secret'], slack: ['webhook_url'], discord: ['webhook_url'] };
const DEFAULTS = { name: '', kind: 'email', to: '', url: '', secret: '', webhook_url: '' };

/** The Channels tab: list with delivery counts, add, send a test, delete. */
export function ChannelsTab({ canEdit, isAdmin }) {
  const list = useList('/channels', 'channels');
  const [adding, setAdding] = useState(false);
  const [testing, setTesting] = useState(null);
  const [flash, setFlash] = useState(null);
  // Notifications move the counts (on `alerts`); only admins may follow every event.
  useLiveReload(isAdmin ? 'events' : 'alerts', /^(Channel|Notification)/, list.reloadAt);

  const saved = (channel, position) => {
    setFlash({ kind: 'ok', text: `Added channel “${channel.name}”. Send a test to check it.` });
    setAdding(false);
    list.reloadAt(position);
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
      list.reloadAt(position);
    } catch (e) {
      setFlash(failed(`delete “${c.name}”`, e));
    }
  };

  return (
    <section aria-labelledby="settings-channels">
      <SectionHead id="settings-channels" title="Channels" addLabel="Add channel" canEdit={canEdit} onAdd={adding ? null : () => { setFlash(null); setAdding(true); }} />
      <Flash flash={flash} />
      {adding && canEdit && <ChannelForm onSaved={saved} onCancel={() => setAdding(false)} />}
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

/** The form adding a channel; its fields follow the kind. */
function ChannelForm({ onSaved, onCancel }) {
  const form = useForm(DEFAULTS);
  const kind = form.values.kind;
  const save = () => form.submit(async (v) => {
    const { data, position } = await send('POST', '/channels', channelBody(v));
    onSaved(data, position);
  });
  return (
    <FormPanel title="New channel" form={form} names={['name', 'kind', ...KIND_FIELDS[kind]]} onSubmit={save} onCancel={onCancel}>
      <div class="form-grid">
        <Field label="Name" {...bind(form, 'name')} required maxLength={200} />
        <Field label="Kind" {...bind(form, 'kind')} render={(p) => <select {...p}>{KINDS.map(([k, l]) => <option key={k} value={k}>{l}</option>)}</select>} />
        {kind === 'email' && (
          <Field label="Recipients" {...bind(form, 'to')} required hint="Addresses, comma-separated or one a line" render={(p) => <textarea rows={2} {...p} />} />
        )}
        {kind === 'webhook' && (
          <div class="settings-span2">
            <Field label="URL" {...bind(form, 'url')} required inputMode="url" placeholder="https://pager.example/hook" />
          </div>
        )}
        {kind === 'webhook' && (
          <Field label="Secret" type="password" autocomplete="new-password" {...bind(form, 'secret')} hint="Optional: signs each body (Watchfire-Signature); never shown again" />
        )}
        {(kind === 'slack' || kind === 'discord') && (
          <div class="settings-span2">
            <Field label="Webhook URL" {...bind(form, 'webhook_url')} required inputMode="url" placeholder={kind === 'slack' ? 'https://hooks.slack.com/services/…' : 'https://discord.com/api/webhooks/…'} hint="Kept secret: never shown again in full" />
          </div>
        )}
      </div>
    </FormPanel>
  );
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
