// Pieces every Settings tab shares: lists read your own writes, forms show the API's
// errors at their fields, inline delete confirmations, copyable values, time inputs.

import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { get, query, request } from '../../lib/api.js';
import { useLoad, useTopicEvents } from '../../lib/hooks.js';
import { Note } from '../../components/Bits.jsx';

/**
 * A list from the API (`GET path`, the array under `key`): `{data, error, reloadAt}`, where
 * `reloadAt(position)` reads it again at least as fresh as a command's log position.
 */
export function useList(path, key) {
  const at = useRef(null);
  const load = useLoad(() => get(`${path}${query({ min_position: at.current })}`).then((d) => d[key]), [path, key]);
  const { reload } = load;
  const reloadAt = useCallback((position) => {
    if (position) at.current = Math.max(at.current || 0, position);
    reload();
  }, [reload]);
  return { ...load, reloadAt };
}

/**
 * Calls `reloadAt(position)` when a live topic brings an event whose type matches
 * `pattern`, and when the topic is replaced after a lost connection.
 */
export function useLiveReload(topic, pattern, reloadAt) {
  const seen = useRef(false);
  useTopicEvents(topic, (updates, t) => {
    const first = !seen.current;
    seen.current = true;
    if (updates === null ? !first : updates.some((u) => pattern.test(u.event))) reloadAt(t.position);
  });
}

/** Every role a token or user may have, lowest first. */
export const ROLES = ['agent', 'viewer', 'operator', 'admin'];

/** Sends a command; resolves to `{data, position}` (the log position it was written at). */
export async function send(method, path, body, headers = {}) {
  const answer = await request(method, path, body, { headers, raw: true });
  return { data: answer.data, position: Number(answer.headers.get('Watchfire-Position')) || null };
}

/** The props binding a Field to the form value and the API error of `name`. */
export function bind(form, name) {
  return { name, value: form.values[name] ?? '', onInput: form.set(name), error: form.errors[name] };
}

/** A labelled checkbox bound to the form value `name`. */
export function Check({ form, name, label }) {
  const error = form.errors[name];
  return (
    <div class={`field field-check${error ? ' field-error' : ''}`}>
      <label>
        <input type="checkbox" name={name} checked={!!form.values[name]} onChange={form.set(name)} aria-invalid={error ? 'true' : undefined} />
        {label}
      </label>
      {error && <small class="error" role="alert">{error}</small>}
    </div>
  );
}

/**
 * The message to show above a form: a non-field error (409, 403, network), or a 422 whose
 * field none of the form's inputs (`names`) shows, with the field named.
 */
function formMessage(errors, names) {
  if (errors._form) return errors._form;
  const fields = Object.keys(errors);
  if (fields.length === 0 || fields.some((f) => names.includes(f))) return null;
  return `${fields[0]}: ${errors[fields[0]]}`;
}

/**
 * A create or edit form in a panel: its heading, the errors that belong to no field and a
 * `notice` above the inputs, then Save and Cancel. `names` are the field names it shows.
 */
export function FormPanel({ title, form, names, notice, onSubmit, onCancel, children }) {
  const ref = useRef(null);
  // The first field takes the focus as the form opens, in the same commit: a focus moved
  // after the paint could pull the caret out of a field already being typed in, and the
  // rest of what is typed would land in the first field instead.
  useLayoutEffect(() => {
    const panel = ref.current;
    if (!panel) return;
    if (!panel.contains(document.activeElement)) {
      panel.querySelector('input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea')?.focus();
    }
    panel.scrollIntoView?.({ block: 'nearest' });
  }, []);
  const message = formMessage(form.errors, names);
  const submit = (e) => {
    e.preventDefault();
    onSubmit();
  };
  return (
    <section class="panel settings-form" ref={ref}>
      <h3>{title}</h3>
      {notice && <Note kind="error">{notice}</Note>}
      {message && <p class="form-error" role="alert">{message}</p>}
      <form onSubmit={submit} onKeyDown={(e) => e.key === 'Escape' && onCancel()}>
        {children}
        <div class="row settings-buttons">
          <button type="submit" class="primary" disabled={form.busy}>{form.busy ? 'Saving…' : 'Save'}</button>
          <button type="button" onClick={onCancel}>Cancel</button>
        </div>
      </form>
    </section>
  );
}

let confirms = 0;

/** Text for screen readers only, such as the item a row's button acts on. */
export function Hidden({ children }) {
  return <span class="settings-sr">{children}</span>;
}

/**
 * A delete (or revoke) button that asks first, inline: `onConfirm()` runs on "Yes".
 * `what` names the item for screen readers ("Delete shop").
 */
export function ConfirmButton({ verb = 'Delete', what, question, onConfirm }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [questionId] = useState(() => `settings-confirm-${++confirms}`);
  const opener = useRef(null);
  const yes = useRef(null);
  const wasAsking = useRef(false);
  useEffect(() => {
    if (asking) yes.current?.focus();
    else if (wasAsking.current) opener.current?.focus();
    wasAsking.current = asking;
  }, [asking]);
  const go = async () => {
    setBusy(true);
    try {
      await onConfirm();
    } finally {
      setBusy(false);
      setAsking(false);
    }
  };
  if (!asking) {
    return <button type="button" class="danger" ref={opener} onClick={() => setAsking(true)}>{verb}<Hidden> {what}</Hidden></button>;
  }
  return (
    <span class="settings-confirm">
      <span id={questionId}>{question}</span>
      <button type="button" class="danger" ref={yes} disabled={busy} aria-describedby={questionId} onClick={go}>{`Yes, ${verb.toLowerCase()}`}</button>
      <button type="button" onClick={() => setAsking(false)} onKeyDown={(e) => e.key === 'Escape' && setAsking(false)}>Cancel</button>
    </span>
  );
}

/** A read-only value with a Copy button (a token, a push URL). */
export function CopyBox({ label, value, testid }) {
  const [copied, setCopied] = useState(false);
  const input = useRef(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
    } catch {
      input.current.select();
      document.execCommand('copy');
    }
    setCopied(true);
  };
  return (
    <div class="field copy-box">
      <label for={`copy-${testid}`}>{label}</label>
      <div class="copy-row">
        <input id={`copy-${testid}`} ref={input} class="mono" readOnly value={value} data-testid={testid} onFocus={(e) => e.currentTarget.select()} />
        <button type="button" onClick={copy}>{copied ? 'Copied' : 'Copy'}</button>
      </div>
    </div>
  );
}

/** A tab's heading with its "Add …" button (for those who may change things). */
export function SectionHead({ id, title, addLabel, canEdit, onAdd }) {
  return (
    <>
      <div class="settings-head">
        <h2 id={id} tabIndex={-1}>{title}</h2>
        {canEdit && onAdd && <button type="button" class="primary" onClick={onAdd}>{addLabel}</button>}
      </div>
      {!canEdit && <p class="muted settings-readonly">Read only: changing these needs the operator role.</p>}
    </>
  );
}

/** The outcome of the last action: `{kind: 'ok'|'error', text, extra?}`, shown above the list. */
export function Flash({ flash }) {
  if (!flash) return null;
  if (flash.kind === 'error') return <Note kind="error">{flash.text}</Note>;
  return (
    <div class="settings-flash" role="status">
      <p>{flash.text}</p>
      {flash.extra}
    </div>
  );
}

/** Loading, error and empty states of a list; calls `children(rows)` once there are rows. */
export function ListState({ list, empty, what, children }) {
  if (list.error && !list.data) return <Note kind="error">Could not load {what}: {list.error.message}</Note>;
  if (!list.data) return <Note>Loading {what}…</Note>;
  return (
    <>
      {list.error && <Note kind="error">Could not refresh {what}: {list.error.message}</Note>}
      {list.data.length === 0 ? <Note>{empty}</Note> : children(list.data)}
    </>
  );
}

/** Tags as small chips. */
export function Tags({ tags }) {
  if (!tags || tags.length === 0) return <span class="muted">—</span>;
  return <span class="settings-tags">{tags.map((t) => <span key={t} class="settings-tag">{t}</span>)}</span>;
}

/** A comma- or line-separated text as a list of trimmed, non-empty items. */
export function splitList(value) {
  return String(value || '').split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
}

/** A text input's value: trimmed, or null when empty. */
export function text(value) {
  const s = String(value ?? '').trim();
  return s === '' ? null : s;
}

/** A number input's value: a number, or null when empty. */
export function num(value) {
  return value === '' || value === null || value === undefined ? null : Number(value);
}

/** The value of a `datetime-local` input (the viewer's time) as RFC 3339 UTC, or null. */
export function toUtc(local) {
  if (!local) return null;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? local : d.toISOString();
}

/** A time (RFC 3339 or Date) as a `datetime-local` value in the viewer's time. */
export function toLocalInput(time) {
  if (!time) return '';
  const d = new Date(time);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** `obj` without its null and undefined values (nested objects too). */
export function prune(obj) {
  const out = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v === null || v === undefined) continue;
    out[k] = v && typeof v === 'object' && !Array.isArray(v) ? prune(v) : v;
  }
  return out;
}

/**
 * The keys of `next` whose values differ from `base`: nested objects key by key, except
 * those named in `whole` (which the API replaces as a whole).
 */
export function diff(base, next, whole = []) {
  const out = {};
  for (const [k, v] of Object.entries(next)) {
    const b = base[k];
    if (isObject(v) && isObject(b) && !whole.includes(k)) {
      const inner = diff(b, v, whole);
      if (Object.keys(inner).length > 0) out[k] = inner;
    } else if (JSON.stringify(v ?? null) !== JSON.stringify(b ?? null)) {
      out[k] = v;
    }
  }
  return out;
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The error message of an action on `what`, worded for the list's status line. */
export function failed(what, e) {
  return { kind: 'error', text: `Could not ${what}: ${e.message}` };
}
