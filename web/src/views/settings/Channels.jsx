// Settings › Channels: where notifications go (email, webhook, Slack, Discord, Teams,
// Telegram, ntfy, Gotify, PagerDuty, Pushover, SMS), what each has sent, failed and still
// owes; add one, edit one, send a test, delete.

import { useState } from 'preact/hooks';
import { Field, useForm } from '../../components/Field.jsx';
import {
  Check, ConfirmButton, Flash, FormPanel, Hidden, ListState, SectionHead,
  bind, diff, failed, num, send, splitList, text, useList, useLiveReload,
} from './parts.jsx';

const KINDS = [
  ['email', 'Email'], ['webhook', 'Webhook'], ['slack', 'Slack'], ['discord', 'Discord'],
  ['teams', 'Microsoft Teams'], ['telegram', 'Telegram'], ['ntfy', 'ntfy'], ['gotify', 'Gotify'],
  ['pagerduty', 'PagerDuty'], ['pushover', 'Pushover'], ['sms', 'SMS (Twilio)'],
];

/**
 * The fields of the kinds drawn from a table, by their API names. `hidden` fields (tokens,
 * and URLs the list shows cut after their host) are never filled in on edit and are sent
 * only when typed; `type` is text (default), number, list (comma-separated) or bool.
 */
const PROVIDERS = {
  teams: [
    { name: 'webhook_url', label: 'Workflow URL', hidden: true, required: true, wide: true, placeholder: 'https://….logic.azure.com/workflows/…', hint: 'The workflow’s “When a Teams webhook request is received” URL' },
  ],
  telegram: [
    { name: 'bot_token', label: 'Bot token', hidden: true, required: true, placeholder: '123456:ABC-DEF…', hint: 'From @BotFather; never shown again' },
    { name: 'chat_id', label: 'Chat id', required: true, placeholder: '-1001234567890 or @channel' },
    { name: 'message_thread_id', label: 'Topic id', type: 'number', hint: 'Optional: a forum topic' },
    { name: 'parse_mode', label: 'Formatting', options: [['', 'Plain text'], ['HTML', 'HTML'], ['MarkdownV2', 'MarkdownV2']] },
    { name: 'disable_notification', label: 'Deliver silently', type: 'bool' },
    { name: 'api_url', label: 'Bot API URL', hidden: true, placeholder: 'https://api.telegram.org', hint: 'Optional: a local Bot API server' },
  ],
  ntfy: [
    { name: 'server_url', label: 'Server URL', hidden: true, placeholder: 'https://ntfy.sh', hint: 'Optional: your own ntfy server' },
    { name: 'topic', label: 'Topic', required: true, placeholder: 'watchfire-alerts' },
    { name: 'priority', label: 'Priority (1–5)', type: 'number', hint: 'Optional: by severity when empty' },
    { name: 'tags', label: 'Tags', type: 'list', hint: 'Optional, comma-separated' },
    { name: 'token', label: 'Access token', hidden: true, hint: 'Optional: sent as Bearer; never shown again' },
    { name: 'username', label: 'Username', hint: 'Optional: Basic auth, instead of a token' },
    { name: 'password', label: 'Password', hidden: true },
  ],
  gotify: [
    { name: 'server_url', label: 'Server URL', hidden: true, required: true, placeholder: 'https://gotify.example.com' },
    { name: 'app_token', label: 'Application token', hidden: true, required: true, hint: 'Never shown again' },
    { name: 'priority', label: 'Priority (0–10)', type: 'number', hint: 'Optional: by severity when empty' },
  ],
  pagerduty: [
    { name: 'routing_key', label: 'Routing key', hidden: true, required: true, hint: 'The Events API v2 integration key (32 characters); never shown again' },
    { name: 'source', label: 'Source', hint: 'Optional: the alert’s subject when empty' },
    { name: 'events_url', label: 'Events API URL', hidden: true, placeholder: 'https://events.pagerduty.com' },
  ],
  pushover: [
    { name: 'token', label: 'Application token', hidden: true, required: true },
    { name: 'user', label: 'User or group key', hidden: true, required: true },
    { name: 'priority', label: 'Priority (−2–2)', type: 'number', hint: 'Optional: 2 repeats until acknowledged in Pushover' },
    { name: 'retry', label: 'Retry (s)', type: 'number', hint: 'Priority 2: at least 30' },
    { name: 'expire', label: 'Expire (s)', type: 'number', hint: 'Priority 2: at most 10800' },
    { name: 'device', label: 'Device', hint: 'Optional: only these devices' },
    { name: 'sound', label: 'Sound' },
    { name: 'api_url', label: 'API URL', hidden: true, placeholder: 'https://api.pushover.net' },
  ],
  sms: [
    { name: 'account_sid', label: 'Account SID', required: true, placeholder: 'AC…' },
    { name: 'auth_token', label: 'Auth token', hidden: true, required: true, hint: 'Never shown again' },
    { name: 'to', label: 'To', required: true, placeholder: '+15558675310' },
    { name: 'from', label: 'From', placeholder: '+15017122661', hint: 'The sending number, or a messaging service' },
    { name: 'messaging_service_sid', label: 'Messaging service SID', placeholder: 'MG…' },
    { name: 'api_url', label: 'API URL', hidden: true, placeholder: 'https://api.twilio.com' },
  ],
};

/** The fields of each kind, by their API names. */
const KIND_FIELDS = {
  email: ['to'], webhook: ['url', 'secret'], slack: ['webhook_url'], discord: ['webhook_url'],
  ...Object.fromEntries(Object.entries(PROVIDERS).map(([k, fields]) => [k, fields.map((f) => f.name)])),
};
const DEFAULTS = {
  name: '', kind: 'email', to: '', url: '', secret: '', webhook_url: '',
  ...Object.fromEntries(Object.values(PROVIDERS).flat().map((f) => [f.name, f.type === 'bool' ? false : ''])),
};

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
  if (c.kind === 'telegram') return <span class="mono">chat {c.chat_id}{c.message_thread_id ? ` · topic ${c.message_thread_id}` : ''}</span>;
  if (c.kind === 'ntfy') return <span class="mono">topic {c.topic} · {c.server_url || 'ntfy.sh'}</span>;
  if (c.kind === 'gotify') return <span class="mono">{c.server_url}</span>;
  if (c.kind === 'pagerduty') return <span class="mono">{c.events_url || 'events.pagerduty.com'}{c.source ? ` · ${c.source}` : ''}</span>;
  if (c.kind === 'pushover') return <span class="mono">{c.device || 'all devices'}{c.priority != null ? ` · priority ${c.priority}` : ''}</span>;
  if (c.kind === 'sms') return <span class="mono">{c.to}</span>;
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
        {PROVIDERS[kind] && PROVIDERS[kind].map((f) => <ProviderField key={f.name} form={form} field={f} editing={!!channel} />)}
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

/** One field of a kind from [`PROVIDERS`]; a hidden one is a password input kept unless typed. */
function ProviderField({ form, field, editing }) {
  if (field.type === 'bool') return <Check form={form} name={field.name} label={field.label} />;
  const hint = editing && field.hidden ? `Leave empty to keep the current ${field.label.toLowerCase()}` : field.hint;
  const props = {
    label: field.label,
    ...bind(form, field.name),
    required: field.required && !(editing && field.hidden),
    placeholder: field.placeholder,
    hint,
  };
  let input;
  if (field.options) {
    input = <Field {...props} render={(p) => <select {...p}>{field.options.map(([k, l]) => <option key={k} value={k}>{l}</option>)}</select>} />;
  } else if (field.hidden) {
    input = <Field {...props} type="password" autocomplete="new-password" />;
  } else {
    input = <Field {...props} type={field.type === 'number' ? 'number' : 'text'} />;
  }
  return field.wide ? <div class="settings-span2">{input}</div> : input;
}

/** A provider field's form value as the API takes it: null when empty. */
function apiValue(field, value) {
  if (field.type === 'bool') return !!value;
  if (field.type === 'number') return num(value);
  if (field.type === 'list') return splitList(value);
  return text(value);
}

/** A kind's name as the form shows it. */
function kindLabel(kind) {
  return KINDS.find(([k]) => k === kind)?.[1] || kind;
}

/** The form values of `channel` (the defaults when none): its URLs and secret left empty. */
function valuesOf(channel) {
  if (!channel) return DEFAULTS;
  const values = { ...DEFAULTS, name: channel.name, kind: channel.kind, remove_secret: false };
  if (!PROVIDERS[channel.kind]) return { ...values, to: (channel.to || []).join(', ') };
  for (const f of PROVIDERS[channel.kind]) {
    if (f.hidden) continue;
    const shown = channel[f.name];
    if (f.type === 'bool') values[f.name] = !!shown;
    else if (f.type === 'list') values[f.name] = (shown || []).join(', ');
    else values[f.name] = shown === null || shown === undefined ? '' : String(shown);
  }
  return values;
}

/** The API body of the form values: the kind's fields only. */
function channelBody(v) {
  const base = { name: v.name, kind: v.kind };
  if (PROVIDERS[v.kind]) {
    const body = { ...base };
    for (const f of PROVIDERS[v.kind]) {
      const value = apiValue(f, v[f.name]);
      if (value !== null && !(Array.isArray(value) && value.length === 0)) body[f.name] = value;
    }
    return body;
  }
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
  if (PROVIDERS[v.kind]) {
    const changes = v.name !== channel.name ? { name: v.name } : {};
    for (const f of PROVIDERS[v.kind]) {
      const value = apiValue(f, v[f.name]);
      if (f.hidden) {
        if (value !== null) changes[f.name] = value;
      } else if (JSON.stringify(value) !== JSON.stringify(channel[f.name] ?? (f.type === 'list' ? [] : f.type === 'bool' ? false : null))) {
        changes[f.name] = value;
      }
    }
    return changes;
  }
  const changes = diff({ name: channel.name, to: channel.to }, { name: v.name, to: v.kind === 'email' ? splitList(v.to) : undefined });
  const url = text(v.kind === 'webhook' ? v.url : v.webhook_url);
  if (v.kind === 'webhook' && url) changes.url = url;
  if ((v.kind === 'slack' || v.kind === 'discord') && url) changes.webhook_url = url;
  if (v.kind === 'webhook' && v.remove_secret) changes.secret = null;
  else if (v.kind === 'webhook' && v.secret !== '') changes.secret = v.secret;
  return changes;
}
