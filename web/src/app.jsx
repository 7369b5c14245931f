// The shell: sign-in, navigation, the connection state, the theme, and the views.

import { useEffect, useRef, useState } from 'preact/hooks';
import { get, post, bearer, setBearer, onUnauthorized } from './lib/api.js';
import { live } from './lib/live.js';
import { useConnection, useTopic } from './lib/hooks.js';
import { useRoute, href } from './lib/router.js';
import { SessionContext, can, useSession } from './lib/session.js';
import { showDown } from './lib/favicon.js';
import { themeChoice, setTheme, onTheme } from './lib/theme.js';
import { Login } from './views/Login.jsx';
import { Overview } from './views/Overview.jsx';
import { MonitorDetail } from './views/MonitorDetail.jsx';
import { HostDetail } from './views/HostDetail.jsx';
import { Alerts } from './views/Alerts.jsx';
import { Audit } from './views/Audit.jsx';
import { Settings } from './views/Settings.jsx';

const VIEWS = [
  { path: '/', label: 'Overview', match: (p) => p[0] === undefined || p[0] === 'monitors' || p[0] === 'hosts' },
  { path: '/alerts', label: 'Alerts', match: (p) => p[0] === 'alerts' },
  { path: '/audit', label: 'Audit', match: (p) => p[0] === 'audit' },
  { path: '/settings', label: 'Settings', match: (p) => p[0] === 'settings' },
];

/** The whole app: the login form until signed in, then the shell. */
export function App() {
  const [me, setMe] = useState(undefined);

  useEffect(() => {
    get('/me').then(setMe, () => setMe(null));
    return onUnauthorized(() => {
      live.stop();
      setMe(null);
    });
  }, []);

  useEffect(() => {
    if (me) live.start();
  }, [me]);

  const signOut = async () => {
    if (bearer()) setBearer(null);
    else await post('/logout').catch(() => {});
    live.stop();
    setMe(null);
  };

  // Reads who is signed in again, after their role changed (a 401 signs out as ever).
  const refresh = () => get('/me').then(setMe, () => {});

  if (me === undefined) return <main aria-busy="true" />;
  if (me === null) return <Login onSignedIn={(m) => { live.state = 'idle'; setMe(m); }} />;
  return (
    <SessionContext.Provider value={{ me, signOut, refresh }}>
      <Shell />
    </SessionContext.Provider>
  );
}

function Shell() {
  const route = useRoute();
  const connection = useConnection();
  const dashboard = useTopic('dashboard');
  const { me, signOut } = useSession();
  const [theme, setThemeState] = useState(themeChoice);
  useEffect(() => onTheme(() => setThemeState(themeChoice())), []);

  const down = dashboard ? Object.values(dashboard.monitors || {}).filter((m) => m.status === 'down').length : 0;
  const current = VIEWS.find((v) => v.match(route.parts));
  useEffect(() => showDown(down, current?.label), [down, current?.label]);

  // A new page (not the first, nor only new query parameters) takes the focus to its
  // content, so keyboard users don't start again from the top.
  const main = useRef(null);
  const shownPath = useRef(route.path);
  useEffect(() => {
    if (route.path === shownPath.current) return;
    shownPath.current = route.path;
    main.current?.focus({ preventScroll: true });
  }, [route.path]);

  const cycleTheme = () => {
    const next = { system: 'light', light: 'dark', dark: 'system' }[theme];
    setTheme(next);
    setThemeState(next);
  };

  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="topbar">
        <a class="brand" href={href('/')}>
          <img src="/favicon.svg" alt="" /> watchfire
        </a>
        <nav class="nav" aria-label="Main">
          {VIEWS.map((v) => (
            <a key={v.path} href={href(v.path)} aria-current={current === v ? 'page' : undefined}>{v.label}</a>
          ))}
        </nav>
        <span class="spacer" />
        <span class={`conn conn-${connection}`} role="status" data-testid="connection">
          {connection === 'live' ? 'Live' : connection === 'reconnecting' ? 'Reconnecting…' : 'Connecting…'}
        </span>
        <button type="button" onClick={cycleTheme} aria-label={`Theme: ${theme} (change)`} data-testid="theme">
          {theme === 'system' ? 'Theme: system' : theme === 'dark' ? 'Theme: dark' : 'Theme: light'}
        </button>
        <span class="muted hide-narrow" title={`signed in as ${me.name} (${me.role})`}>{me.name}</span>
        <button type="button" onClick={signOut}>Sign out</button>
      </header>
      {connection === 'reconnecting' && (
        <div class="banner banner-warn" role="alert">Connection lost. Reconnecting… (what you see may be out of date)</div>
      )}
      <main id="main" ref={main} tabIndex={-1}>
        <Route route={route} me={me} />
      </main>
    </>
  );
}

function Route({ route, me }) {
  const [first, second] = route.parts;
  if (first === undefined) return <Overview />;
  if (first === 'monitors' && second) return <MonitorDetail id={second} params={route.params} />;
  if (first === 'hosts' && second) return <HostDetail hostname={second} params={route.params} />;
  if (first === 'alerts') return <Alerts id={second} params={route.params} />;
  if (first === 'audit') return <Audit params={route.params} />;
  if (first === 'settings') return <Settings tab={second} params={route.params} canEdit={can(me.role, 'operator')} isAdmin={can(me.role, 'admin')} />;
  return <p class="note">Nothing here. <a href={href('/')}>Back to the overview</a>.</p>;
}
