/**
 * A distributed toposcope on one machine, from real processes: redis-server (Debian's, no persistence),
 * a coordinator (`node dist/main.js serve` with TOPOSCOPE_REDIS_URL) and workers (`node dist/main.js
 * worker`). Every process is tracked so that `stopAll` kills what is left, whatever happened.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/config.ts';

export const REDIS_SERVER = '/usr/bin/redis-server';
const MAIN = path.join(PROJECT_ROOT, 'dist', 'main.js');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const live = new Set<Proc>();

/** A child process whose output is kept (the tail) and which is ready when a line matches. */
export class Proc {
  private tail = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    live.add(this);
    const onData = (b: Buffer) => {
      this.tail = (this.tail + b.toString()).slice(-20000);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => (live.delete(this), resolve({ code, signal }))));
  }

  static async start(name: string, cmd: string, args: string[], env: Record<string, string>, ready: RegExp, timeoutMs = 90_000): Promise<Proc> {
    const child = spawn(cmd, args, { cwd: PROJECT_ROOT, env: { ...process.env, NODE_OPTIONS: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const p = new Proc(name, child);
    await p.waitFor(ready, timeoutMs);
    return p;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get output(): string {
    return this.tail;
  }

  /** Resolves with the first match of `re` in the output (so far or to come). */
  async waitFor(re: RegExp, timeoutMs = 90_000): Promise<RegExpMatchArray> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.tail);
      if (m) return m;
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`${this.name} exited (${this.child.exitCode ?? this.child.signalCode}) before printing ${re}: ${this.tail.slice(-3000)}`);
      if (Date.now() > until) throw new Error(`${this.name} did not print ${re} in ${timeoutMs} ms: ${this.tail.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }
}

/** Kills every process started here that is still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill('SIGKILL')));
}

export async function startRedis(port?: number): Promise<{ proc: Proc; port: number; url: string }> {
  const p = port ?? (await freePort());
  const proc = await Proc.start('redis-server', REDIS_SERVER, ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {}, /Ready to accept connections/);
  return { proc, port: p, url: `redis://127.0.0.1:${p}` };
}

/** `toposcope serve` on a free port (distributed when `redis` is given); resolves with its base URL. */
export async function startCoordinator(o: { dataDir: string; redis?: string; port?: number; env?: Record<string, string> }): Promise<{ proc: Proc; url: string; port: number }> {
  const port = o.port ?? (await freePort());
  const env: Record<string, string> = { TOPOSCOPE_DATA_DIR: o.dataDir, TOPOSCOPE_PORT: String(port), TOPOSCOPE_HOST: '127.0.0.1', TOPOSCOPE_REGISTER_FIXTURES: '0', TOPOSCOPE_LOG_LEVEL: 'warn', ...(o.redis ? { TOPOSCOPE_REDIS_URL: o.redis } : {}), ...o.env };
  const proc = await Proc.start('coordinator', process.execPath, [MAIN, 'serve'], env, /toposcope serving at (http:\/\/\S+)/);
  return { proc, url: `http://127.0.0.1:${port}`, port };
}

export async function startWorker(o: { redis: string; api: string; cache: string; threads?: number; concurrency?: number; key?: string; env?: Record<string, string> }): Promise<Proc> {
  const args = [MAIN, 'worker', '--redis', o.redis, '--api', o.api, '--cache', o.cache, '--threads', String(o.threads ?? 1), '--concurrency', String(o.concurrency ?? 1), ...(o.key ? ['--key', o.key] : [])];
  return Proc.start('worker', process.execPath, args, o.env ?? {}, /toposcope worker \S+ taking shards/);
}
