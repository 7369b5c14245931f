// Form fields that show the API's validation error at the field it names.

import { useState } from 'preact/hooks';
import { ApiError } from '../lib/api.js';

let nextId = 0;

/**
 * A labelled input. `error` is the message for this field; `children` replaces the input
 * (a select or textarea) and gets `id` and `aria-*` through `render(props)`.
 */
export function Field({ label, name, error, hint, render, ...input }) {
  const [id] = useState(() => `f${++nextId}-${name}`);
  const describedBy = error ? `${id}-error` : hint ? `${id}-hint` : undefined;
  const props = { id, name, 'aria-invalid': error ? 'true' : undefined, 'aria-describedby': describedBy, ...input };
  return (
    <div class={`field${error ? ' field-error' : ''}`}>
      <label for={id}>{label}</label>
      {render ? render(props) : <input {...props} />}
      {hint && !error && <small id={`${id}-hint`} class="hint">{hint}</small>}
      {error && <small id={`${id}-error`} class="error" role="alert">{error}</small>}
    </div>
  );
}

/**
 * Form state for a create or edit form: `values`, `set(name)(event)`, `errors` by field,
 * and `submit(fn)` that runs `fn(values)` and spreads a 422 onto its field (the rest
 * into `errors._form`).
 */
export function useForm(initial) {
  const [values, setValues] = useState(initial);
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);
  const set = (name) => (e) => {
    const t = e.currentTarget;
    const value = t.type === 'checkbox' ? t.checked : t.value;
    setValues((v) => ({ ...v, [name]: value }));
  };
  const submit = async (fn) => {
    setBusy(true);
    setErrors({});
    try {
      return await fn(values);
    } catch (e) {
      setErrors(errorsOf(e));
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return { values, setValues, set, errors, setErrors, busy, submit };
}

/**
 * Errors by field from a thrown error: a 422's `field` (its top-level name, so
 * `expect.status[1]` lands on `expect` and also on `expect.status`) or `_form`.
 */
export function errorsOf(e) {
  if (e instanceof ApiError && e.field) {
    const message = e.message.startsWith(`${e.field}: `) ? e.message.slice(e.field.length + 2) : e.message;
    const out = { [e.field]: message };
    const top = e.field.split(/[.[]/)[0];
    out[top] = out[top] || message;
    const path = e.field.replace(/\[\d+\]$/, '');
    out[path] = out[path] || message;
    return out;
  }
  return { _form: e?.message || String(e) };
}
