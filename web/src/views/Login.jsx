// Sign in: a user's name and password (the session cookie), or an API token.

import { useState } from 'preact/hooks';
import { post, get, setBearer } from '../lib/api.js';
import { Field, useForm } from '../components/Field.jsx';

/** The login form; `onSignedIn(me)` once the server accepts. */
export function Login({ onSignedIn }) {
  const [withToken, setWithToken] = useState(false);
  const form = useForm({ username: '', password: '', token: '' });
  const { values, set, errors, busy } = form;

  const submit = (e) => {
    e.preventDefault();
    form.submit(async (v) => {
      if (withToken) {
        setBearer(v.token.trim());
        try {
          onSignedIn(await get('/me'));
        } catch (err) {
          setBearer(null);
          throw err.status === 401 ? Object.assign(new Error('that token is unknown, revoked or expired'), {}) : err;
        }
      } else {
        setBearer(null); // a stored token would be sent, and read, before the new cookie
        await post('/login', { username: v.username.trim(), password: v.password });
        onSignedIn(await get('/me'));
      }
    });
  };

  return (
    <main class="login">
      <div class="panel">
        <h1>
          <img src="/favicon.svg" alt="" width="24" height="24" style="vertical-align: -4px" /> watchfire
        </h1>
        <form onSubmit={submit} aria-label="Sign in" noValidate>
          {withToken ? (
            <Field label="API token" name="token" type="password" autocomplete="off" value={values.token} onInput={set('token')} error={errors.token} hint="The admin token printed on first start, or any token you made." required />
          ) : (
            <>
              <Field label="Username" name="username" autocomplete="username" value={values.username} onInput={set('username')} error={errors.username} required autofocus />
              <Field label="Password" name="password" type="password" autocomplete="current-password" value={values.password} onInput={set('password')} error={errors.password} required />
            </>
          )}
          {errors._form && <p class="form-error" role="alert">{errors._form}</p>}
          <div class="row">
            <button class="primary" type="submit" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
            <button type="button" onClick={() => { setWithToken(!withToken); form.setErrors({}); }}>
              {withToken ? 'Use a username' : 'Use an API token'}
            </button>
          </div>
        </form>
      </div>
    </main>
  );
}
