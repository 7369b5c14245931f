// Acknowledging a firing alert: a button that opens an inline form for an optional comment.

import { useEffect, useRef, useState } from 'preact/hooks';
import { request } from '../lib/api.js';

/**
 * The "Acknowledge" button of a firing alert `alertId`; it opens a form asking for an
 * optional comment, POSTs the acknowledgement, then calls `onAcked(position)` with the log
 * position of the acknowledgement (to read the alert again at least that fresh). The
 * button goes once the alert is acknowledged, so focus then moves to `returnTo` (a ref to
 * an element that stays, focusable with tabIndex -1).
 */
export function AlertAck({ alertId, onAcked, returnTo }) {
  const [open, setOpen] = useState(false);
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const fieldId = `ack-comment-${alertId}`;
  const opener = useRef(null);
  const field = useRef(null);
  const wasOpen = useRef(false);
  const acked = useRef(false);
  useEffect(() => {
    // Into the comment when the form opens; back to the button when it closes, so the
    // keyboard stays in place, or to `returnTo` after an acknowledgement (the button goes).
    if (open) field.current?.focus();
    else if (wasOpen.current) ((acked.current && returnTo?.current) || opener.current)?.focus();
    acked.current = false;
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
      acked.current = true;
      setOpen(false);
      setComment('');
      // Now too: the live update may have shown it acknowledged, and taken this form away, already.
      returnTo?.current?.focus();
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
          ref={field}
          name="comment"
          maxLength={2000}
          placeholder="optional, e.g. on it"
          value={comment}
          onInput={(e) => setComment(e.currentTarget.value)}
          aria-invalid={error ? 'true' : undefined}
          aria-describedby={error ? `${fieldId}-error` : undefined}
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
