// Settings › Tokens (admins): API tokens for agents and scripts; a new token's value is
// shown once, in a copyable box; revoke.

import { useState } from 'preact/hooks';
import { dateTime } from '../../lib/format.js';
import { Field, useForm } from '../../components/Field.jsx';
import {
  ConfirmButton, CopyBox, Flash, FormPanel, ListState, SectionHead,
  ROLES, bind, failed, prune, send, toUtc, useList, useLiveReload,
} from './parts.jsx';

const FIELDS = ['name', 'role', 'expires_at'];

/** The Tokens tab: list, create (the value shown once), revoke. */
export function TokensTab() {
  const list = useList('/tokens', 'tokens');
  const [adding, setAdding] = useState(false);
  const [created, setCreated] = useState(null);
  const [flash, setFlash] = useState(null);
  useLiveReload('events', /^Token/, list.reloadAt);

  const saved = (token, position) => {
    setCreated(token);
    setFlash(null);
    setAdding(false);
    list.reloadAt(position);
  };
  const revoke = async (t) => {
    try {
      const { position } = await send('DELETE', `/tokens/${t.id}`);
      setFlash({ kind: 'ok', text: `Revoked token “${t.name}”: it no longer signs anyone in.` });
      list.reloadAt(position);
    } catch (e) {
      setFlash(failed(`revoke “${t.name}”`, e));
    }
  };
  const open = () => {
    setCreated(null);
    setFlash(null);
    setAdding(true);
  };

  return (
    <section aria-labelledby="settings-tokens">
      <SectionHead id="settings-tokens" title="Tokens" addLabel="Create token" canEdit onAdd={adding ? null : open} />
      <p class="muted">Agents push with a token of role agent; scripts use the role they need.</p>
      {created && <NewToken token={created} onDone={() => setCreated(null)} />}
      <Flash flash={flash} />
      {adding && <TokenForm onSaved={saved} onCancel={() => setAdding(false)} />}
      <ListState list={list} what="the tokens" empty="No tokens.">
        {(rows) => (
          <div class="table-wrap">
            <table class="settings-table">
              <thead>
                <tr><th>Name</th><th>Role</th><th>Created</th><th>Expires</th><th>State</th><th><span class="settings-sr">Actions</span></th></tr>
              </thead>
              <tbody>
                {[...rows].sort((a, b) => (b.created_at || '').localeCompare(a.created_at || '')).map((t) => {
                  const state = stateOf(t);
                  return (
                    <tr key={t.id} data-testid="settings-row" data-id={t.id} class={state === 'active' ? undefined : 'settings-past'}>
                      <td data-label="Name">{t.name}</td>
                      <td data-label="Role">{t.role}</td>
                      <td data-label="Created">{dateTime(t.created_at)}</td>
                      <td data-label="Expires">{t.expires_at ? dateTime(t.expires_at) : 'never'}</td>
                      <td data-label="State"><span class={`settings-state settings-state-${state}`}>{state}</span></td>
                      <td class="settings-actions">
                        {state === 'active' && <ConfirmButton verb="Revoke" what={t.name} question={`Revoke “${t.name}”?`} onConfirm={() => revoke(t)} />}
                      </td>
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

/** Whether a token still signs in: active, revoked or expired. */
function stateOf(t, now = Date.now()) {
  if (t.revoked_at) return 'revoked';
  if (t.expires_at && new Date(t.expires_at).getTime() <= now) return 'expired';
  return 'active';
}

/** A token just created: its value, once, to copy. */
function NewToken({ token, onDone }) {
  return (
    <section class="panel settings-secret" data-testid="new-token">
      <h3>Token “{token.name}” created ({token.role})</h3>
      <p class="settings-warning"><strong>Copy it now: it is shown only now.</strong> watchfire keeps only a hash of it, so it cannot be shown again.</p>
      <CopyBox label="Token value" value={token.token} testid="token-value" />
      <button type="button" onClick={onDone}>Done</button>
    </section>
  );
}

/** The form creating a token. */
function TokenForm({ onSaved, onCancel }) {
  const form = useForm({ name: '', role: 'agent', expires_at: '' });
  const save = () => form.submit(async (v) => {
    const { data, position } = await send('POST', '/tokens', prune({ name: v.name, role: v.role, expires_at: toUtc(v.expires_at) }));
    onSaved(data, position);
  });
  return (
    <FormPanel title="New token" form={form} names={FIELDS} onSubmit={save} onCancel={onCancel}>
      <div class="form-grid">
        <Field label="Name" {...bind(form, 'name')} required maxLength={100} placeholder="web-1 agent" />
        <Field label="Role" {...bind(form, 'role')} render={(p) => <select {...p}>{ROLES.map((r) => <option key={r} value={r}>{r}</option>)}</select>} />
        <Field label="Expires" type="datetime-local" {...bind(form, 'expires_at')} hint="Your local time; never when empty" />
      </div>
    </FormPanel>
  );
}
