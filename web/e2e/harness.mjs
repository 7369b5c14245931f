// What the browser tests and the dashboard benchmark stand on: the real watchfire binary
// on a fresh data directory, a local HTTP target it can check, and Debian's Chromium.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository's root. */
export const ROOT = resolve(HERE, '..', '..');
/** The admin token every test server starts with. */
export const ADMIN_TOKEN = 'e2e-admin-token-0123456789abcdef';

/** A free loopback port. */
export function freePort() {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** The watchfire binary: `WATCHFIRE_BIN`, else the debug build. */
export function binary() {
  const bin = process.env.WATCHFIRE_BIN || join(ROOT, 'target', 'debug', 'watchfire');
  if (!existsSync(bin)) throw new Error(`no watchfire binary at ${bin}: run cargo build first (or set WATCHFIRE_BIN)`);
  return bin;
}

/** Waits until `fn()` resolves truthy, polling, or throws after `ms`. */
export async function until(fn, ms = 15000, what = 'condition') {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

/**
 * Starts the server on a fresh data directory (or `dataDir`, to restart on one). Returns
 * `{url, port, dataDir, api(method, path, body), stop(), restart()}`.
 */
export async function startServer({ dataDir, port, env = {} } = {}) {
  const dir = dataDir || mkdtempSync(join(tmpdir(), 'watchfire-e2e-'));
  const listen = port || (await freePort());
  const child = spawn(binary(), ['serve', '--data-dir', dir, '--listen', `127.0.0.1:${listen}`], {
    env: { ...process.env, WATCHFIRE_ADMIN_TOKEN: ADMIN_TOKEN, RUST_LOG: process.env.RUST_LOG || 'warn', ...env },
    stdio: ['ignore', process.env.TEST_LOG ? 'inherit' : 'ignore', process.env.TEST_LOG ? 'inherit' : 'ignore'],
  });
  const url = `http://127.0.0.1:${listen}`;
  const exited = new Promise((r) => child.once('exit', r));
  await until(async () => (await fetch(`${url}/health/ready`)).ok, 30000, `watchfire at ${url}`);
  const server = {
    url,
    port: listen,
    dataDir: dir,
    child,
    /** Calls the API with the admin token; resolves to `{status, body}`. */
    async api(method, path, body) {
      const res = await fetch(`${url}/api/v1${path}`, {
        method,
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    /** Stops the server (SIGTERM), keeping its data directory. */
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
    /** Starts it again on the same port and data directory. */
    restart() {
      return startServer({ dataDir: dir, port: listen, env });
    },
    /** Stops it and removes its data directory. */
    async destroy() {
      await server.stop();
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/**
 * A local HTTP target: answers `status` (200 at first) to every request. `setStatus(n)`
 * changes it. Returns `{url, setStatus, close}`.
 */
export async function startTarget() {
  let status = 200;
  const server = createServer((req, res) => {
    res.writeHead(status, { 'Content-Type': 'text/plain' });
    res.end(status < 400 ? 'ok' : 'failing');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/health`,
    setStatus(n) {
      status = n;
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

/** Debian's Chromium (or `CHROMIUM`), headless, with no network beyond loopback. */
export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`no Chromium at ${executablePath}: scripts/test.sh installs Debian's chromium`);
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

/** Signs the page in with the admin token through the login form. */
export async function signInWithToken(page, url, token = ADMIN_TOKEN) {
  await page.goto(url);
  await page.getByRole('button', { name: 'Use an API token' }).click();
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}
