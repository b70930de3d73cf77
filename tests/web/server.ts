/**
 * The viewer tests' server and browser: the real `toposcope serve` (bundled fixtures registered, a
 * fresh data folder, an API key), the viewer built into dist/web when missing or older than web/,
 * and Debian's Chromium through playwright-core with a fresh profile.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type BrowserContext } from 'playwright-core';
import { PROJECT_ROOT } from '../../src/config.ts';

export const VIEWER_DIST = path.join(PROJECT_ROOT, 'dist', 'web');
export const SCREENSHOTS = path.join(PROJECT_ROOT, 'tests', 'web', '__screenshots__');

function newestMtime(p: string): number {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let m = st.mtimeMs;
  for (const e of fs.readdirSync(p)) m = Math.max(m, newestMtime(path.join(p, e)));
  return m;
}

/** Builds the viewer (`npx vite build --config web/vite.config.ts`) unless dist/web is newer than its sources. */
export async function ensureViewerBuilt(): Promise<void> {
  const index = path.join(VIEWER_DIST, 'index.html');
  const sources = Math.max(newestMtime(path.join(PROJECT_ROOT, 'web')), newestMtime(path.join(PROJECT_ROOT, 'src', 'render', 'colormap.ts')));
  if (fs.existsSync(index) && fs.statSync(index).mtimeMs >= sources) return;
  await promisify(execFile)('npx', ['vite', 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'], { cwd: PROJECT_ROOT });
}

export interface Server {
  url: string;
  apiKey: string;
  close: () => Promise<void>;
}

/** Starts the compiled `node dist/main.js serve` (npm run build) on a free port and resolves once it listens. */
export async function startServer(apiKey = 'viewer-test-key'): Promise<Server> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'toposcope-viewer-'));
  const child = spawn(process.execPath, ['dist/main.js', 'serve'], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      TOPOSCOPE_DATA_DIR: dataDir,
      TOPOSCOPE_HOST: '127.0.0.1',
      TOPOSCOPE_PORT: '0',
      TOPOSCOPE_API_KEY: apiKey,
      TOPOSCOPE_REGISTER_FIXTURES: '1',
      TOPOSCOPE_LOG_LEVEL: 'warn',
      TOPOSCOPE_WORKERS: '1',
      TOPOSCOPE_ORT_THREADS: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start in 120 s:\n${stderr}`)), 120_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /toposcope serving at (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${stderr}`));
    });
  });
  return {
    url,
    apiKey,
    close: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Headless Chromium (Debian's, no download) with a fresh profile, 1440×900 at device scale 1. */
export async function launchBrowser(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'toposcope-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.TOPOSCOPE_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1440, height: 900 },
    deviceScaleFactor: 1,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--force-color-profile=srgb',
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
