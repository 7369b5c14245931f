// Settings › Users (admins): who signs in with a password, and with which role.

import { useState } from 'preact/hooks';
import { dateTime } from '../../lib/format.js';
import { useSession } from '../../lib/session.js';
import { Field, useForm } from '../../components/Field.jsx';
import {
  ConfirmButton, Flash, FormPanel, ListState, ROLES, SectionHead, bind, failed, send, useList, useLiveReload,
} from './parts.jsx';

const FIELDS = ['username', 'password', 'role'];

/** The Users tab: list, add, delete. */
export function UsersTab() {
  const { me } = useSession();
  const list = useList('/users', 'users');
  const [adding, setAdding] = useState(false);
  const [flash, setFlash] = useState(null);
  useLiveReload('events', /^User/, list.reloadAt);

  const saved = (user, position) => {
    setFlash({ kind: 'ok', text: `Added user “${user.username}” (${user.role}).` });
    setAdding(false);
    list.reloadAt(position);
  };
  const remove = async (u) => {
    try {
      const { position } = await send('DELETE', `/users/${encodeURIComponent(u.username)}`);
      setFlash({ kind: 'ok', text: `Deleted user “${u.username}”: their sessions are over.` });
      list.reloadAt(position);
    } catch (e) {
      setFlash(failed(`delete “${u.username}”`, e));
    }
  };
  const self = (u) => me.kind === 'user' && me.name === u.username;

  return (
    <section aria-labelledby="settings-users">
      <SectionHead id="settings-users" title="Users" addLabel="Add user" canEdit onAdd={adding ? null : () => { setFlash(null); setAdding(true); }} />
      <Flash flash={flash} />
      {adding && <UserForm onSaved={saved} onCancel={() => setAdding(false)} />}
      <ListState list={list} what="the users" empty="No users yet: everyone signs in with a token.">
        {(rows) => (
          <div class="table-wrap">
            <table class="settings-table">
              <thead>
                <tr><th>Username</th><th>Role</th><th>Created</th><th><span class="settings-sr">Actions</span></th></tr>
              </thead>
              <tbody>
                {[...rows].sort((a, b) => a.username.localeCompare(b.username)).map((u) => (
                  <tr key={u.username} data-testid="settings-row" data-id={u.username}>
                    <td data-label="Username">{u.username}{self(u) && <span class="muted"> (you)</span>}</td>
                    <td data-label="Role">{u.role}</td>
                    <td data-label="Created">{dateTime(u.created_at)}</td>
                    <td class="settings-actions">
                      <ConfirmButton
                        what={u.username}
                        question={self(u) ? 'Delete yourself? You will be signed out.' : `Delete “${u.username}”?`}
                        onConfirm={() => remove(u)}
                      />
                    </td>
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

/** The form adding a user. */
function UserForm({ onSaved, onCancel }) {
  const form = useForm({ username: '', password: '', role: 'viewer' });
  const save = () => form.submit(async (v) => {
    const { data, position } = await send('POST', '/users', v);
    onSaved(data, position);
  });
  return (
    <FormPanel title="New user" form={form} names={FIELDS} onSubmit={save} onCancel={onCancel}>
      <div class="form-grid">
        <Field label="Username" {...bind(form, 'username')} required autocomplete="off" placeholder="ada" hint="a-z, 0-9, '.', '_' and '-'" />
        <Field label="Password" type="password" {...bind(form, 'password')} required autocomplete="new-password" hint="12 characters or more" />
        <Field label="Role" {...bind(form, 'role')} render={(p) => <select {...p}>{ROLES.map((r) => <option key={r} value={r}>{r}</option>)}</select>} />
      </div>
    </FormPanel>
  );
}
