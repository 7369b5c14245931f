// The dashboard's entry point.

import { render } from 'preact';
import './styles.css';
import { apply } from './lib/theme.js';
import { App } from './app.jsx';
import { StatusPage } from './views/StatusPage.jsx';

apply();
// `/status/<slug>` is a public status page: no sign-in, no navigation.
const status = location.pathname.match(/^\/status\/([a-z0-9-]{1,64})\/?$/);
render(status ? <StatusPage slug={status[1]} /> : <App />, document.getElementById('app'));
