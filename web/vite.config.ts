/**
 * Builds the map viewer into dist/web/ (served at / by src/http/plugins/viewer.ts):
 *   npx vite build --config web/vite.config.ts
 * Development against a running server on :3000 (API calls proxied):
 *   npx vite --config web/vite.config.ts
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));
const api = process.env.TOPOSCOPE_API ?? 'http://127.0.0.1:3000';

export default defineConfig({
  root: here,
  base: '/',
  publicDir: path.join(here, 'public'),
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: path.resolve(here, '../dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 400,
  },
  server: {
    // The viewer imports the server's colormap (src/render/colormap.ts) so colours agree.
    fs: { allow: [path.resolve(here, '..')] },
    proxy: { '/v1': api, '/docs': api, '/health': api },
  },
});
