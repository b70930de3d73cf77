/**
 * The real server the report scripts talk to: `node dist/main.js serve` on a fresh data folder with
 * the fixtures registered, on a free port, and the few HTTP calls the reports make.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/config.ts';

type Method = 'GET' | 'POST';
/** API bodies as they come (the reports read only fields the routes document). */
type Json = any;

export interface ReportServer {
  base: string;
  dataDir: string;
  /** The response of a call; throws (with `status`) on any status ≥ 300. */
  call(method: Method, url: string, body?: object): Promise<Response>;
  json(method: Method, url: string, body?: object): Promise<Json>;
  /** Polls a job until it leaves queued/running; throws unless it succeeded. */
  waitForJob(url: string): Promise<Json>;
  /** Stops the server and, unless `keep`, removes its data folder. */
  close(keep: boolean): Promise<void>;
}

export async function startReportServer(prefix: string, log: (s: string) => void): Promise<ReportServer> {
  const main = path.join(PROJECT_ROOT, 'dist', 'main.js');
  if (!fs.existsSync(main)) throw new Error('dist/main.js is missing: run npm run build first');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const child = spawn(process.execPath, [main, 'serve'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, TOPOSCOPE_DATA_DIR: dataDir, TOPOSCOPE_HOST: '127.0.0.1', TOPOSCOPE_PORT: '0', TOPOSCOPE_REGISTER_FIXTURES: '1', TOPOSCOPE_LOG_LEVEL: 'warn', TOPOSCOPE_API_KEY: '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const base = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /toposcope serving at (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`the server exited with code ${code}`)));
  });
  child.stdout!.resume();
  log(`server at ${base}, data in ${dataDir}`);

  const call = async (method: Method, url: string, body?: object): Promise<Response> => {
    const r = await fetch(base + url, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
    if (r.status >= 300) throw Object.assign(new Error(`${method} ${url}: ${r.status} ${(await r.text()).slice(0, 500)}`), { status: r.status });
    return r;
  };
  const json = async (method: Method, url: string, body?: object): Promise<Json> => (await call(method, url, body)).json();
  return {
    base,
    dataDir,
    call,
    json,
    async waitForJob(url) {
      for (;;) {
        const b = await json('GET', url);
        if (b.state !== 'queued' && b.state !== 'running') {
          if (b.state !== 'succeeded') throw new Error(`${url}: ${b.state} ${b.error}`);
          return b;
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    },
    async close(keep) {
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      if (!keep) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
