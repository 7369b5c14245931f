// Hash routes (`#/monitors/<id>`): the server serves one page at `/`, and links work offline.

import { useEffect, useState } from 'preact/hooks';

/** The current route: `{path, parts, params}` from `location.hash`. */
export function currentRoute() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, search = ''] = hash.split('?');
  return {
    path,
    parts: path.split('/').filter(Boolean).map(decodeURIComponent),
    params: Object.fromEntries(new URLSearchParams(search)),
  };
}

/** The current route, re-rendering on navigation. */
export function useRoute() {
  const [route, setRoute] = useState(currentRoute);
  const [rendered] = useState(() => location.hash);
  useEffect(() => {
    const on = () => setRoute(currentRoute());
    window.addEventListener('hashchange', on);
    // A hash change between the first render and now had no listener yet.
    if (location.hash !== rendered) on();
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** Goes to `path` (such as `/hosts/web-1`), optionally with query `params`. */
export function navigate(path, params) {
  const q = params ? new URLSearchParams(params).toString() : '';
  location.hash = `#${path}${q ? `?${q}` : ''}`;
}

/** The href of `path` for a link. */
export function href(path) {
  return `#${path}`;
}
