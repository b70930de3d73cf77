/**
 * A real server process on a real socket, for tests that must survive what they provoke: every
 * request has a deadline; a server that stops answering is killed and started again on the same data
 * directory, and the caller learns what happened (`timeout`, or `network` with the exit signal).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Config } from '../../../src/config.ts';

const ENTRY = path.join(import.meta.dirname, 'server-child.ts');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface HttpRequest {
  method: string;
  /** Path and query, e.g. `/v1/models?limit=2`. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export type HttpOutcome =
  | { kind: 'response'; status: number; headers: Headers; body: Buffer; ms: number }
  | { kind: 'timeout'; ms: number }
  | { kind: 'network'; message: string; exit: { code: number | null; signal: NodeJS.Signals | null } | null };

export interface ServerEvent {
  /** What the server was doing: the request that preceded the event. */
  after: string;
  what: string;
}

export class TestServer {
  private proc: ChildProcess | null = null;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private stderrTail = '';
  private logged: string[] = [];
  base = '';
  /** Every restart, with the reason. */
  readonly events: ServerEvent[] = [];

  private constructor(private readonly config: Partial<Config>) {}

  static async start(config: Partial<Config>): Promise<TestServer> {
    const s = new TestServer(config);
    await s.spawn();
    return s;
  }

  private spawn(): Promise<void> {
    this.exit = null;
    const proc = spawn(process.execPath, ['--import', TSX, ENTRY, JSON.stringify(this.config)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    this.proc = proc;
    proc.stderr!.on('data', (b: Buffer) => {
      this.stderrTail = (this.stderrTail + b.toString()).slice(-4000);
    });
    proc.once('exit', (code, signal) => {
      if (this.proc === proc) this.exit = { code, signal };
    });
    return new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`server did not start in 60 s: ${this.stderrTail}`)), 60_000);
      proc.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        let nl: number;
        while ((nl = out.indexOf('\n')) >= 0) {
          const line = out.slice(0, nl);
          out = out.slice(nl + 1);
          const m = /^LISTENING (\S+)/.exec(line);
          if (m) {
            clearTimeout(timer);
            this.base = m[1];
            resolve();
          } else this.onLog(line);
        }
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`server exited while starting (code ${code}, signal ${signal}): ${this.stderrTail}`));
      });
    });
  }

  /** The pid of the current server process. */
  get pid(): number {
    return this.proc!.pid!;
  }

  get stderr(): string {
    return this.stderrTail;
  }

  /** Fastify's JSON log: keep what errors it reports (the 500s say only "internal error"). */
  private onLog(line: string): void {
    try {
      const l = JSON.parse(line) as { level?: number; msg?: string; err?: { type?: string; message?: string } };
      if ((l.level ?? 0) >= 50) this.logged.push(l.err ? `${l.err.type ?? 'Error'}: ${l.err.message ?? ''}` : (l.msg ?? line));
    } catch {
      // not a log line
    }
  }

  /** The errors the server logged since the last call. */
  takeLoggedErrors(): string[] {
    return this.logged.splice(0);
  }

  async send(req: HttpRequest, deadlineMs = 5000): Promise<HttpOutcome> {
    const t0 = performance.now();
    try {
      const r = await fetch(this.base + req.path, {
        method: req.method,
        headers: req.headers,
        body: req.body as BodyInit | undefined,
        signal: AbortSignal.timeout(deadlineMs),
        redirect: 'manual',
      });
      const body = Buffer.from(await r.arrayBuffer());
      return { kind: 'response', status: r.status, headers: r.headers, body, ms: performance.now() - t0 };
    } catch (e) {
      const err = e as Error & { cause?: Error };
      if (err.name === 'TimeoutError' || err.name === 'AbortError') return { kind: 'timeout', ms: performance.now() - t0 };
      // Give a crashing server a moment to be reaped so that its signal is known.
      await new Promise((r) => setTimeout(r, 200));
      return { kind: 'network', message: `${err.message}${err.cause ? `: ${err.cause.message}` : ''}`, exit: this.exit };
    }
  }

  /** True when /health answers 200 within `ms`. */
  async healthy(ms = 3000): Promise<boolean> {
    const r = await this.send({ method: 'GET', path: '/health' }, ms);
    return r.kind === 'response' && r.status === 200;
  }

  /** Kills the server (it may be hung) and starts it again on the same data directory. */
  async restart(after: string, what: string): Promise<void> {
    this.events.push({ after, what });
    await this.kill();
    await this.spawn();
  }

  private async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }

  /** Graceful stop (SIGTERM), SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
      p.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      p.kill('SIGTERM');
    });
  }

  /** The HTTP outcome in a few words, for failure messages. */
  static describe(o: HttpOutcome): string {
    if (o.kind === 'response') return `${o.status} ${o.body.toString('utf8').slice(0, 300)}`;
    if (o.kind === 'timeout') return `no answer within ${Math.round(o.ms)} ms (server hung)`;
    return `connection failed (${o.message})${o.exit ? `; the server process ended with ${o.exit.signal ?? `exit code ${o.exit.code}`}` : ''}`;
  }
}
