// Starts a server, signs in, screenshots the current page: `node e2e/smoke.mjs [out.png] [#/route]`.
import { startServer, launchBrowser, signInWithToken } from './harness.mjs';
const [out = '/tmp/watchfire-smoke.png', route = '#/'] = process.argv.slice(2);
const server = await startServer({ env: process.env.WATCHFIRE_WEB_DIR ? { WATCHFIRE_WEB_DIR: process.env.WATCHFIRE_WEB_DIR } : {} });
const browser = await launchBrowser();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('console', (m) => console.log('console:', m.type(), m.text()));
  page.on('pageerror', (e) => console.log('pageerror:', e.message));
  await signInWithToken(page, server.url);
  await page.goto(`${server.url}/${route}`);
  await page.waitForTimeout(1500);
  await page.screenshot({ path: out, fullPage: true });
  console.log('screenshot', out);
} finally {
  await browser.close();
  await server.destroy();
}
