// The dashboard's entry point.

import { render } from 'preact';
import './styles.css';
import { apply } from './lib/theme.js';
import { App } from './app.jsx';

apply();
render(<App />, document.getElementById('app'));
