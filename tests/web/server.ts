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
import { chromium, type BrowserContext, type Page } from 'playwright-core';
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

/** A JSON request to the server with its API key; throws on a non-2xx answer. */
export async function serverApi<T>(server: Server, method: string, url: string, body?: unknown): Promise<T> {
  const r = await fetch(server.url + url, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${server.apiKey}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method} ${url}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

export interface Viewer {
  server: Server;
  page: Page;
  /** A JSON request to the server with the API key; throws on a non-2xx answer. */
  api: <T>(method: string, url: string, body?: unknown) => Promise<T>;
  /** Polls a job's URL until it leaves queued/running; throws unless it succeeded. */
  waitForJob: (url: string, timeoutMs?: number) => Promise<void>;
  close: () => Promise<void>;
}

/** The viewer built, the server and Chromium started (whatever started is closed if another part fails), the API key entered. */
export async function openViewer(): Promise<Viewer> {
  const started = await Promise.allSettled([ensureViewerBuilt(), startServer(), launchBrowser()]);
  const server = started[1].status === 'fulfilled' ? started[1].value : null;
  const browser = started[2].status === 'fulfilled' ? started[2].value : null;
  const close = async () => {
    await browser?.close();
    await server?.close();
  };
  const failed = started.find((s) => s.status === 'rejected');
  if (failed || !server || !browser) {
    await close();
    throw (failed as PromiseRejectedResult | undefined)?.reason ?? new Error('the viewer did not start');
  }
  const api = <T>(method: string, url: string, body?: unknown) => serverApi<T>(server, method, url, body);
  const waitForJob = async (url: string, timeoutMs = 120_000) => {
    for (const until = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 200))) {
      const s = await api<{ state: string; error: string | null }>('GET', url);
      if (s.state === 'succeeded') return;
      if (s.state !== 'queued' && s.state !== 'running') throw new Error(`${url}: ${s.state} ${s.error}`);
      if (Date.now() > until) throw new Error(`${url} did not finish in ${timeoutMs} ms`);
    }
  };
  try {
    const page = browser.context.pages()[0] ?? (await browser.context.newPage());
    await page.goto(`${server.url}/`);
    await page.getByTestId('api-key-button').click();
    await page.getByTestId('api-key-input').fill(server.apiKey);
    await page.getByTestId('api-key-save').click();
    return { server, page, api, waitForJob, close };
  } catch (e) {
    await close();
    throw e;
  }
}
