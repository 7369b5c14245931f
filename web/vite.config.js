import { defineConfig } from 'vite';

// The dashboard is served by the watchfire binary at `/`; `outDir` may be moved
// by the build script (`WATCHFIRE_WEB_OUT`) so a cargo build never writes into the source tree.
export default defineConfig({
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: process.env.WATCHFIRE_WEB_OUT || 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
});
