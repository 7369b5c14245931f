// Light and dark: follows the system unless the viewer picks one (kept in localStorage).

const KEY = 'watchfire.theme';
const listeners = new Set();
const media = window.matchMedia('(prefers-color-scheme: dark)');

/** The viewer's choice: 'system', 'light' or 'dark'. */
export function themeChoice() {
  const v = localStorage.getItem(KEY);
  return v === 'light' || v === 'dark' ? v : 'system';
}

/** The theme in effect: 'light' or 'dark'. */
export function effectiveTheme() {
  const choice = themeChoice();
  if (choice !== 'system') return choice;
  return media.matches ? 'dark' : 'light';
}

/** Sets the choice and applies it. */
export function setTheme(choice) {
  if (choice === 'system') localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, choice);
  apply();
}

/** Calls `fn(theme)` when the effective theme changes; returns the unsubscriber. */
export function onTheme(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Writes the effective theme to `<html data-theme>`. */
export function apply() {
  const theme = effectiveTheme();
  document.documentElement.dataset.theme = theme;
  document.documentElement.style.colorScheme = theme;
  listeners.forEach((fn) => fn(theme));
}

media.addEventListener('change', apply);

/** A CSS custom property's value of the current theme, such as `--fg`. */
export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
