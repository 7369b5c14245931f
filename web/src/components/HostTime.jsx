// Times as people read them: "3 min ago" that stays true while the page is open.

import { useEffect, useState } from 'preact/hooks';
import { ago, dateTime } from '../lib/format.js';

/** How often relative times are redrawn. */
const TICK_MS = 30000;

/** Re-renders the caller every 30 s so relative times do not go stale; returns the time of that render. */
export function useNow() {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), TICK_MS);
    return () => clearInterval(timer);
  }, []);
  return now;
}

/** "3 min ago" for an RFC 3339 time, with the full date and time on hover; "never" when absent. */
export function Ago({ time }) {
  useNow();
  if (!time) return <span class="muted">never</span>;
  return <time datetime={time} title={dateTime(time)}>{ago(time)}</time>;
}
