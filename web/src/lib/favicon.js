// The tab's title and icon carry the count of monitors down.

/** Sets `document.title` and the favicon for `down` monitors down (0: all well). */
export function showDown(down, view) {
  const base = view ? `${view} · watchfire` : 'watchfire';
  document.title = down > 0 ? `(${down} down) ${base}` : base;
  const link = document.getElementById('favicon');
  if (!link) return;
  const colour = down > 0 ? '#dc2626' : '#16a34a';
  const label = down > 99 ? '99+' : String(down);
  const inner = down > 0
    ? `<text x="16" y="22" font-family="Arial,sans-serif" font-size="${label.length > 2 ? 12 : 17}" font-weight="700" text-anchor="middle" fill="#fff">${label}</text>`
    : '<path d="M16 6c3 5 7 7 7 12a7 7 0 0 1-14 0c0-3 2-5 3-7 1 3 2 4 4 4-1-3-1-6 0-9z" fill="#fff"/>';
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="15" fill="${colour}"/>${inner}</svg>`;
  const next = `data:image/svg+xml,${encodeURIComponent(svg)}`;
  if (link.getAttribute('href') !== next) link.setAttribute('href', next);
}
