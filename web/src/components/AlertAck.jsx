// Acknowledging a firing alert: a button that opens an inline form for an optional comment.

import { useEffect, useRef, useState } from 'preact/hooks';
import { request } from '../lib/api.js';

/**
 * The "Acknowledge" button of a firing alert `alertId`; it opens a form asking for an
 * optional comment, POSTs the acknowledgement, then calls `onAcked(position)` with the log
 * position of the acknowledgement (to read the alert again at least that fresh).
 */
export function AlertAck({ alertId, onAcked }) {
  const [open, setOpen] = useState(false);
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const fieldId = `ack-comment-${alertId}`;
  const opener = useRef(null);
  const wasOpen = useRef(false);
  useEffect(() => {
    // Back to the button when the form closes, so the keyboard stays in place.
    if (!open && wasOpen.current) opener.current?.focus();
    wasOpen.current = open;
  }, [open]);

  const cancel = () => {
    setOpen(false);
    setError(null);
  };

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const text = comment.trim();
      const answer = await request('POST', `/alerts/${alertId}/ack`, text ? { comment: text } : {}, { raw: true });
      setOpen(false);
      setComment('');
      onAcked(Number(answer.headers.get('Watchfire-Position')) || null);
    } catch (err) {
      setError(err.status === 409 ? `It can no longer be acknowledged: ${err.message}` : err.message);
    } finally {
      setBusy(false);
    }
  };

  if (!open) {
    return <button type="button" ref={opener} class="alert-ack-open" onClick={() => setOpen(true)}>Acknowledge</button>;
  }
  return (
    <form class="alert-ack" onSubmit={submit} onKeyDown={(e) => e.key === 'Escape' && cancel()} aria-label="Acknowledge the alert">
      <div class="field">
        <label for={fieldId}>Comment</label>
        <input
          id={fieldId}
          name="comment"
          maxLength={2000}
          placeholder="optional, e.g. on it"
          value={comment}
          onInput={(e) => setComment(e.currentTarget.value)}
          aria-invalid={error ? 'true' : undefined}
          aria-describedby={error ? `${fieldId}-error` : undefined}
          autoFocus
        />
        {error && <small id={`${fieldId}-error`} class="error" role="alert">{error}</small>}
      </div>
      <div class="row">
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Acknowledging…' : 'Acknowledge'}</button>
        <button type="button" onClick={cancel}>Cancel</button>
      </div>
    </form>
  );
}
