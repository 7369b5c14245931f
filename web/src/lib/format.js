// How figures read on screen.

const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

/** "3 min ago" for an RFC 3339 time (or Date); "never" when absent. */
export function ago(time, now = Date.now()) {
  if (!time) return 'never';
  const s = Math.round((new Date(time).getTime() - now) / 1000);
  const a = Math.abs(s);
  if (a < 60) return rtf.format(s, 'second');
  if (a < 3600) return rtf.format(Math.round(s / 60), 'minute');
  if (a < 86400) return rtf.format(Math.round(s / 3600), 'hour');
  return rtf.format(Math.round(s / 86400), 'day');
}

/** A date and time in the viewer's locale, to the second. */
export function dateTime(time) {
  if (!time) return '—';
  return new Date(time).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** "1.2 s", "35 ms". */
export function ms(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  if (value >= 1000) return `${(value / 1000).toFixed(value >= 10000 ? 0 : 1)} s`;
  return `${value >= 100 ? Math.round(value) : value.toFixed(value >= 10 ? 0 : 1)} ms`;
}

/** "99.95 %" from a fraction or a percentage (`isFraction`). */
export function percent(value, isFraction = false, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  const v = isFraction ? value * 100 : value;
  return `${v.toFixed(v === 100 ? 0 : digits)} %`;
}

/** "1.5 MiB", "320 B". */
export function bytes(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = value;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(i === 0 || v >= 100 ? 0 : 1)} ${units[i]}`;
}

/** "1.5 MiB/s". */
export function rate(value) {
  return value === null || value === undefined ? '—' : `${bytes(value)}/s`;
}

/** "2 d 3 h" from seconds. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  const [big, small, bigUnit, smallUnit] =
    s < 86400 ? [Math.floor(s / 3600), Math.floor((s % 3600) / 60), 'h', 'min'] : [Math.floor(s / 86400), Math.floor((s % 86400) / 3600), 'd', 'h'];
  return small ? `${big} ${bigUnit} ${small} ${smallUnit}` : `${big} ${bigUnit}`;
}

/** Days until `time` (negative when past), or null. */
export function daysUntil(time, now = Date.now()) {
  if (!time) return null;
  return (new Date(time).getTime() - now) / 86400000;
}
