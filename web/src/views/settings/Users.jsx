// Settings › Users (admins): who signs in with a password, and with which role; add one,
// change one's role or password, delete.

import { useState } from 'preact/hooks';
import { dateTime } from '../../lib/format.js';
import { useSession } from '../../lib/session.js';
import { Field, useForm } from '../../components/Field.jsx';
import {
  ConfirmButton, Flash, FormPanel, Hidden, ListState, ROLES, SectionHead, bind, failed, send, useList, useLiveReload,
} from './parts.jsx';

const FIELDS = ['username', 'password', 'role'];

/** The Users tab: list, add, edit (role, password), delete. */
export function UsersTab() {
  const { me, refresh } = useSession();
  const list = useList('/users', 'users');
  // 'new', or the user being edited as listed when its form opened.
  const [open, setOpen] = useState(null);
  const [flash, setFlash] = useState(null);
  useLiveReload('events', /^User/, list.reloadAt);
  const self = (u) => me.kind === 'session' && me.name === u.username;

  const saved = (user, position) => {
    setFlash({ kind: 'ok', text: `Added user “${user.username}” (${user.role}).` });
    setOpen(null);
    list.reloadAt(position);
  };
  const edited = (user, position, { role, password }) => {
    const what = [role && `role ${user.role}`, password && 'a new password'].filter(Boolean).join(' and ');
    const ended = !password ? '' : self(user) ? ' (your other sessions are over; this one stays)' : ' (their sessions are over)';
    setFlash({ kind: 'ok', text: what ? `Saved “${user.username}”: ${what}${ended}.` : `Nothing changed for “${user.username}”.` });
    setOpen(null);
    list.reloadAt(position);
    // A new role of your own applies at once: what this page offers follows it.
    if (role && self(user)) refresh();
  };
  const start = (what) => {
    setFlash(null);
    setOpen(what);
  };
  const remove = async (u) => {
    try {
      const { position } = await send('DELETE', `/users/${encodeURIComponent(u.username)}`);
      setFlash({ kind: 'ok', text: `Deleted user “${u.username}”: their sessions are over.` });
      if (open?.username === u.username) setOpen(null);
      list.reloadAt(position);
    } catch (e) {
      setFlash(failed(`delete “${u.username}”`, e));
    }
  };

  return (
    <section aria-labelledby="settings-users">
      <SectionHead id="settings-users" title="Users" addLabel="Add user" canEdit onAdd={open === 'new' ? null : () => start('new')} />
      <Flash flash={flash} />
      {open === 'new' && <UserForm onSaved={saved} onCancel={() => setOpen(null)} />}
      {open && open !== 'new' && (
        <UserEdit key={open.username} user={open} self={self(open)} onSaved={edited} onCancel={() => setOpen(null)} />
      )}
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
                      <button type="button" onClick={() => start(u)}>Edit<Hidden> {u.username}</Hidden></button>
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

/**
 * The form changing a user's role and/or password (empty: unchanged). `onSaved(user,
 * position, {role, password})` says which of them changed.
 */
function UserEdit({ user, self, onSaved, onCancel }) {
  const form = useForm({ role: user.role, password: '' });
  const save = () => form.submit(async (v) => {
    const body = {};
    if (v.role !== user.role) body.role = v.role;
    if (v.password !== '') body.password = v.password;
    if (Object.keys(body).length === 0) {
      onSaved(user, null, {});
      return;
    }
    const { data, position } = await send('PATCH', `/users/${encodeURIComponent(user.username)}`, body);
    onSaved(data, position, { role: 'role' in body, password: 'password' in body });
  });
  return (
    <FormPanel title={`Edit user “${user.username}”${self ? ' (you)' : ''}`} form={form} names={['role', 'password']} onSubmit={save} onCancel={onCancel}>
      <div class="form-grid">
        <Field
          label="Role"
          {...bind(form, 'role')}
          hint={self ? 'Yours: a lower one applies at once, and below admin you can no longer manage users' : 'Applies at once'}
          render={(p) => <select {...p}>{ROLES.map((r) => <option key={r} value={r}>{r}</option>)}</select>}
        />
        <Field
          label="New password"
          type="password"
          {...bind(form, 'password')}
          autocomplete="new-password"
          hint={`Leave empty to keep the current one; 12 characters or more. ${self ? 'Your other sessions end; this one stays.' : 'Their sessions end.'}`}
        />
      </div>
    </FormPanel>
  );
}
