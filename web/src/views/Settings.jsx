// The Settings view at `#/settings/<tab>`: monitors, hosts, alert rules, channels and
// silences, status pages (operators change them, viewers read them), tokens and users (admins only).

import { href } from '../lib/router.js';
import { useSession } from '../lib/session.js';
import { Note } from '../components/Bits.jsx';
import { MonitorsTab } from './settings/Monitors.jsx';
import { HostsTab } from './settings/Hosts.jsx';
import { RulesTab } from './settings/Rules.jsx';
import { ChannelsTab } from './settings/Channels.jsx';
import { SilencesTab } from './settings/Silences.jsx';
import { StatusPagesTab } from './settings/StatusPages.jsx';
import { TokensTab } from './settings/Tokens.jsx';
import { UsersTab } from './settings/Users.jsx';
import './settings.css';

const TABS = [
  { id: 'monitors', label: 'Monitors', View: MonitorsTab },
  { id: 'hosts', label: 'Hosts', View: HostsTab },
  { id: 'rules', label: 'Alert rules', View: RulesTab },
  { id: 'channels', label: 'Channels', View: ChannelsTab },
  { id: 'silences', label: 'Silences', View: SilencesTab },
  { id: 'status-pages', label: 'Status pages', View: StatusPagesTab },
  { id: 'tokens', label: 'Tokens', View: TokensTab, admin: true },
  { id: 'users', label: 'Users', View: UsersTab, admin: true },
];

/** The Settings view: its tabs, then the chosen one (Monitors by default). */
export function Settings({ tab = 'monitors', params = {}, canEdit, isAdmin }) {
  const current = TABS.find((t) => t.id === tab);
  return (
    <div class="settings">
      <h1>Settings</h1>
      <nav class="tabs settings-tabs" aria-label="Settings sections">
        {TABS.filter((t) => !t.admin || isAdmin).map((t) => (
          <a key={t.id} href={href(`/settings/${t.id}`)} aria-current={t === current ? 'page' : undefined}>{t.label}</a>
        ))}
      </nav>
      <TabBody tab={tab} current={current} params={params} canEdit={canEdit} isAdmin={isAdmin} />
    </div>
  );
}

/** The chosen tab, or why it cannot be shown. */
function TabBody({ tab, current, params, canEdit, isAdmin }) {
  const { me } = useSession();
  if (!current) return <Note kind="error">There is no settings section “{tab}”. <a href={href('/settings/monitors')}>Go to Monitors</a>.</Note>;
  if (current.admin && !isAdmin) {
    return <Note kind="error">{current.label} are managed by admins only; you are signed in as {me?.name} ({me?.role}).</Note>;
  }
  const { View } = current;
  return <View key={current.id} params={params} canEdit={canEdit} isAdmin={isAdmin} />;
}
