/**
 * ONNX Runtime work that can crash the process (probing a model, listing every tensor, inference),
 * run in a child process. A crash, a hang or a runaway allocation there fails the one call with a
 * typed `NativeFailure` naming the model and the step; the calling process is unaffected.
 *
 * The child is `native-child-entry.ts` (or `.js` beside a compiled build), spawned with the tsx
 * loader when this file is TypeScript. `NativeChildOptions.entry` overrides both.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { FeedSpec, LayerFetch, ProbeShape } from './worker-protocol.ts';

/** Where the child was when it failed: the last step it reported ('spawn' until it reports one). */
export type NativeStep = 'spawn' | 'read-model' | 'expose-tensors' | 'create-session' | 'run' | 'pool' | 'close';

export type NativeFailure =
  | { kind: 'crashed'; model: string; step: NativeStep; signal: NodeJS.Signals | null; exitCode: number | null; stderr: string }
  | { kind: 'timeout'; model: string; step: NativeStep; timeoutMs: number }
  | { kind: 'error'; model: string; step: NativeStep; message: string }
  | { kind: 'cancelled'; model: string; step: NativeStep };

const STEP_TEXT: Record<NativeStep, string> = {
  spawn: 'starting the child process',
  'read-model': 'reading the model file',
  'expose-tensors': 'exposing its tensors as outputs',
  'create-session': 'creating the ONNX Runtime session',
  run: 'running the probe input',
  pool: 'running a batch',
  close: 'closing the session',
};

/** One sentence naming the model, the step and what happened. */
export function describeFailure(f: NativeFailure): string {
  const where = `model '${f.model}', while ${STEP_TEXT[f.step]} (step '${f.step}')`;
  switch (f.kind) {
    case 'crashed':
      return `the ONNX Runtime child process crashed on ${where}: it ended with ${f.signal ?? `exit code ${f.exitCode}`}`;
    case 'timeout':
      return `ONNX Runtime did not finish within ${f.timeoutMs} ms on ${where}; the child process was killed`;
    case 'error':
      return `ONNX Runtime failed on ${where}: ${f.message}`;
    case 'cancelled':
      return `cancelled on ${where}`;
  }
}

export class NativeChildError extends Error {
  constructor(readonly failure: NativeFailure) {
    super(describeFailure(failure));
  }
}

export interface ChildEntry {
  /** The script the child runs. */
  file: string;
  /** Node flags before it (e.g. a loader). */
  execArgv: string[];
}

export interface NativeChildOptions {
  /** Names the model in failures (default: the model file's folder). */
  label?: string;
  /** Per call: opening the session, and each run. Default 120 s. */
  timeoutMs?: number;
  /** Cap on the child's data segment (RLIMIT_DATA via util-linux `prlimit`) and V8 heap, in MiB. */
  memoryMb?: number;
  intraOpThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Aborting kills the child; the pending call fails with kind 'cancelled'. */
  signal?: AbortSignal;
  entry?: ChildEntry;
}

/** What `listTensorsInChild` reports per produced tensor (the manifest's layer names are the caller's). */
export interface TensorShape {
  name: string;
  opType: string;
  node: string;
  type: string;
  shape: number[];
}

export interface PooledLayerResult {
  key: string;
  rows: number;
  units: number;
  dims: number[];
  data: Float32Array;
  sample: Int32Array;
  token: Int32Array;
}

// ---- protocol (shared with native-child-entry) ----------------------------------------------------

export interface OpenRequest {
  op: 'open';
  id: number;
  modelPath: string;
  /** Expose every produced tensor; the edited model is written to `scratchPath` (beside the model, for external data). */
  exposeAll: boolean;
  scratchPath: string | null;
  intraOpThreads: number;
  graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
}
export type ChildRequest =
  | OpenRequest
  | { op: 'run'; id: number; feeds: Record<string, FeedSpec>; fetch: string[] }
  | { op: 'pool'; id: number; feeds: Record<string, FeedSpec>; layers: LayerFetch[]; lengths: ArrayBuffer | null }
  | { op: 'close'; id: number };

/** A request as the caller writes it: the id is the channel's. */
export type ChildCall = ChildRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

export type ChildMessage =
  | { type: 'step'; step: NativeStep }
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; message: string };

export interface OpenReply {
  inputs: string[];
  outputs: string[];
  /** With exposeAll: every produced tensor and its node, in file order. */
  tensors: { name: string; opType: string; node: string }[];
}

export interface PoolReply {
  runMs: number;
  layers: { key: string; rows: number; units: number; dims: number[]; data: ArrayBuffer; sample: ArrayBuffer; token: ArrayBuffer }[];
}

// ---------------------------------------------------------------------------------------------------

const HERE = fileURLToPath(import.meta.url);

/** The entry beside this module: `.ts` through the tsx loader, or `.js` in a compiled build. */
export function defaultEntry(): ChildEntry {
  const ts = HERE.endsWith('.ts');
  const file = path.join(path.dirname(HERE), `native-child-entry.${ts ? 'ts' : 'js'}`);
  if (!ts) return { file, execArgv: [] };
  const tsx = createRequire(import.meta.url).resolve('tsx');
  return { file, execArgv: ['--import', pathToFileURL(tsx).href] };
}

let prlimitPath: string | null | undefined;
function findPrlimit(): string | null {
  if (prlimitPath !== undefined) return prlimitPath;
  prlimitPath = null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/bin', '/bin'])) {
    const p = path.join(dir, 'prlimit');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      prlimitPath = p;
      break;
    } catch {
      // not here
    }
  }
  return prlimitPath;
}

const STDERR_TAIL = 4096;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: NativeChildError) => void;
  timer: NodeJS.Timeout;
}

/** One child process holding (at most) one ONNX Runtime session. */
class Child {
  private proc: ChildProcess;
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private step: NativeStep = 'spawn';
  private stderr = '';
  private dead: NativeFailure | null = null;
  private killedFor: { kind: 'timeout'; timeoutMs: number } | { kind: 'cancelled' } | null = null;
  private readonly exited: Promise<void>;
  private readonly onAbort = () => this.kill({ kind: 'cancelled' });

  constructor(
    readonly label: string,
    private readonly opts: NativeChildOptions,
  ) {
    const entry = opts.entry ?? defaultEntry();
    const nodeArgs = [...entry.execArgv];
    if (opts.memoryMb) nodeArgs.push(`--max-old-space-size=${Math.max(64, Math.floor(opts.memoryMb / 2))}`);
    nodeArgs.push(entry.file);
    const prlimit = opts.memoryMb ? findPrlimit() : null;
    const [cmd, args] = prlimit
      ? [prlimit, [`--data=${Math.floor(opts.memoryMb! * 1024 * 1024)}`, '--', process.execPath, ...nodeArgs]]
      : [process.execPath, nodeArgs];
    this.proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced', env: childEnv() });
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stderr!.on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-STDERR_TAIL);
    });
    this.proc.on('message', (m: ChildMessage) => this.onMessage(m));
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.onExit(code, signal);
        resolve();
      });
      // Spawning failed (no such executable): 'exit' may not follow.
      this.proc.once('error', (e) => {
        this.failAll({ kind: 'error', model: this.label, step: 'spawn', message: e.message });
        resolve();
      });
    });
    if (opts.signal?.aborted) queueMicrotask(this.onAbort);
    else opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private onMessage(m: ChildMessage): void {
    if (m.type === 'step') {
      this.step = m.step;
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.ok) p.resolve(m.value);
    else p.reject(new NativeChildError({ kind: 'error', model: this.label, step: this.step, message: m.message }));
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    const k = this.killedFor;
    const f: NativeFailure =
      k?.kind === 'timeout'
        ? { kind: 'timeout', model: this.label, step: this.step, timeoutMs: k.timeoutMs }
        : k?.kind === 'cancelled'
          ? { kind: 'cancelled', model: this.label, step: this.step }
          : { kind: 'crashed', model: this.label, step: this.step, signal, exitCode: code, stderr: this.stderr };
    this.failAll(f);
  }

  private failAll(f: NativeFailure): void {
    if (!this.dead) this.dead = f;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new NativeChildError(f));
    }
  }

  private kill(why: { kind: 'timeout'; timeoutMs: number } | { kind: 'cancelled' }): void {
    if (this.dead || this.killedFor) return;
    this.killedFor = why;
    this.proc.kill('SIGKILL');
  }

  get failure(): NativeFailure | null {
    return this.dead;
  }

  call<T>(req: ChildCall): Promise<T> {
    if (this.dead) return Promise.reject(new NativeChildError(this.dead));
    const id = this.nextId++;
    const timeoutMs = this.opts.timeoutMs ?? 120_000;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => this.kill({ kind: 'timeout', timeoutMs }), timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      // A failed send means the child is gone; its exit reports how.
      this.proc.send({ ...req, id } as ChildRequest, () => {});
    });
  }

  /** Asks the child to exit; kills it if it does not within a second. Later calls fail as 'cancelled'. */
  async close(): Promise<void> {
    if (!this.dead && this.proc.connected) {
      this.killedFor ??= { kind: 'cancelled' };
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 1000);
      try {
        await this.call({ op: 'close' });
      } catch {
        // already gone
      }
      await this.exited;
      clearTimeout(t);
    } else if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
  }
}

/** The child gets the parent's environment minus NODE_OPTIONS (test runners put loaders there). */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

function open(modelPath: string, opts: NativeChildOptions, exposeAll: boolean, scratchPath: string | null): { child: Child; ready: Promise<OpenReply> } {
  const child = new Child(opts.label ?? path.basename(path.dirname(path.resolve(modelPath))), opts);
  const req: ChildCall = {
    op: 'open',
    modelPath: path.resolve(modelPath),
    exposeAll,
    scratchPath,
    intraOpThreads: Math.max(1, opts.intraOpThreads ?? 1),
    graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
  };
  return { child, ready: child.call<OpenReply>(req) };
}

/**
 * Runs `feeds` through the model at `modelPath` (an already edited file whose outputs include
 * `fetch`) and reports each fetched tensor's type and shape.
 */
export async function probeInChild(modelPath: string, feeds: Record<string, FeedSpec>, fetch: string[], opts: NativeChildOptions = {}): Promise<ProbeShape[]> {
  const { child, ready } = open(modelPath, opts, false, null);
  try {
    await ready;
    return await child.call<ProbeShape[]>({ op: 'run', feeds, fetch });
  } finally {
    await child.close();
  }
}

/**
 * Every tensor produced inside the graph, with its op type, node, and the type and shape ONNX Runtime
 * reports when `feeds` run through a copy of the model that outputs all of them. The copy is written
 * beside the model (so external data resolves) and removed afterwards, whatever happened.
 */
export async function listTensorsInChild(modelPath: string, feeds: Record<string, FeedSpec>, opts: NativeChildOptions = {}): Promise<TensorShape[]> {
  const abs = path.resolve(modelPath);
  const scratch = path.join(path.dirname(abs), `.expose-all-${crypto.randomBytes(6).toString('hex')}.onnx`);
  const { child, ready } = open(abs, opts, true, scratch);
  try {
    const info = await ready;
    const shapes = await child.call<ProbeShape[]>({ op: 'run', feeds, fetch: info.tensors.map((t) => t.name) });
    return info.tensors.map((t, i) => ({ ...t, type: shapes[i].type, shape: shapes[i].dims }));
  } finally {
    await child.close();
    fs.rmSync(scratch, { force: true });
  }
}

/**
 * A session held open in a child process for many calls. After a crash or a timeout every later call
 * fails with the same `NativeChildError`; open a new one to go on.
 */
export class NativeSession {
  private constructor(
    private readonly child: Child,
    readonly inputNames: string[],
    readonly outputNames: string[],
  ) {}

  static async open(modelPath: string, opts: NativeChildOptions = {}): Promise<NativeSession> {
    const { child, ready } = open(modelPath, opts, false, null);
    try {
      const info = await ready;
      return new NativeSession(child, info.inputs, info.outputs);
    } catch (e) {
      await child.close();
      throw e;
    }
  }

  /** Set once the child has died (crash, timeout, cancel). */
  get failure(): NativeFailure | null {
    return this.child.failure;
  }

  probe(feeds: Record<string, FeedSpec>, fetch: string[]): Promise<ProbeShape[]> {
    return this.child.call<ProbeShape[]>({ op: 'run', feeds, fetch });
  }

  /** Runs a batch and pools each requested layer in the child (only rows × units floats come back). */
  async pool(feeds: Record<string, FeedSpec>, layers: LayerFetch[], lengths: Int32Array | null): Promise<{ layers: PooledLayerResult[]; runMs: number }> {
    const r = await this.child.call<PoolReply>({ op: 'pool', feeds, layers, lengths: lengths ? (lengths.slice().buffer as ArrayBuffer) : null });
    return {
      runMs: r.runMs,
      layers: r.layers.map((l) => ({ ...l, data: new Float32Array(l.data), sample: new Int32Array(l.sample), token: new Int32Array(l.token) })),
    };
  }

  close(): Promise<void> {
    return this.child.close();
  }
}
