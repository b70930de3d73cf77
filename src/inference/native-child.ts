/**
 * ONNX Runtime work that can crash the process (probing a model, listing every tensor, inference),
 * run in a child process. A crash, a hang or a runaway allocation there fails the one call with a
 * typed `NativeFailure` naming the model and the step; the calling process is unaffected.
 *
 * The child is `native-child-entry.ts` (or `.js` beside a compiled build), spawned with the tsx
 * loader when this file is TypeScript. `NativeChildOptions.entry` overrides both.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BulkChannel } from './bulk-channel.ts';
import type { FeedSpec, LayerFetch, LesionConfig, LesionSite, PooledLayerOut, ProbeShape, SessionAnswer, SessionCall } from './worker-protocol.ts';

/** How much lower than this process the session children run (Unix niceness, capped at 19). */
const CHILD_NICENESS = 10;

/** Where the child was when it failed: the last step it reported ('spawn' until it reports one). */
export type NativeStep = 'spawn' | 'read-model' | 'expose-tensors' | 'create-session' | 'run' | 'pool' | 'behaviour' | 'close';

/** `doing`: what the failed call was, in the caller's words (e.g. "running batch 3 of 16 (layer mlp)"). */
export type NativeFailure = { model: string; step: NativeStep; doing?: string } & (
  | { kind: 'crashed'; signal: NodeJS.Signals | null; exitCode: number | null; stderr: string }
  | { kind: 'timeout'; timeoutMs: number }
  | { kind: 'error'; message: string }
  | { kind: 'cancelled' }
);

const STEP_TEXT: Record<NativeStep, string> = {
  spawn: 'starting the child process',
  'read-model': 'reading the model file',
  'expose-tensors': 'exposing its tensors as outputs',
  'create-session': 'creating the ONNX Runtime session',
  run: 'running the probe input',
  pool: 'running a batch',
  behaviour: 'scoring behaviour on a batch',
  close: 'closing the session',
};

/** The step the child reports before running a call. */
export const STEP_OF: Record<SessionCall['kind'], NativeStep> = { probe: 'run', pool: 'pool', behaviour: 'behaviour' };

/** One sentence naming the model, the step and what happened. */
export function describeFailure(f: NativeFailure): string {
  const where = `model '${f.model}' while ${f.doing ?? STEP_TEXT[f.step]} (step '${f.step}')`;
  switch (f.kind) {
    case 'crashed':
      return `ONNX Runtime crashed on ${where}: its child process ended with ${f.signal ?? `exit code ${f.exitCode}`}`;
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
  /** Per call: opening the session, and each run. Default 120 s; 0: no deadline. */
  timeoutMs?: number;
  /** Cap on the child's data segment (RLIMIT_DATA via util-linux `prlimit`) and V8 heap, in MiB. */
  memoryMb?: number;
  intraOpThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Aborting kills the child; the pending call fails with kind 'cancelled'. */
  signal?: AbortSignal;
  entry?: ChildEntry;
  /** The file is a lesion copy: its sites, and the configuration pool and probe calls run with. */
  lesion?: { sites: LesionSite[]; config: LesionConfig | null };
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
  lesion?: { sites: LesionSite[]; config: LesionConfig | null };
}
export type ChildRequest = OpenRequest | { op: 'call'; id: number; call: SessionCall } | { op: 'memory'; id: number } | { op: 'close'; id: number };

/** The child's memory as it reports it: RSS, the V8 heap, ArrayBuffers, and its transfer collections so far. */
export interface ChildMemory {
  rssBytes: number;
  heapUsedBytes: number;
  arrayBufferBytes: number;
  /** Bytes of large buffers that crossed the socket, and the young-generation collections they led to. */
  movedBytes: number;
  collections: number;
}

/** A request as the caller writes it: the id is the channel's. */
export type ChildCall = ChildRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

export type ChildMessage =
  /** The child starts `step` of request `id` (requests it has answered may still be on their way). */
  | { type: 'step'; step: NativeStep; id: number }
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; message: string };

export interface OpenReply {
  inputs: string[];
  outputs: string[];
  /** With exposeAll: every produced tensor and its node, in file order. */
  tensors: { name: string; opType: string; node: string }[];
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
  timer: NodeJS.Timeout | null;
  /** The step the child reports when it starts this request, and the caller's words for it. */
  step: NativeStep | null;
  doing: string | undefined;
  /** The last step the child reported for this request. */
  reached: NativeStep | null;
}

/** One child process holding (at most) one ONNX Runtime session. */
class Child {
  private proc: ChildProcess;
  private bulk: BulkChannel;
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private step: NativeStep = 'spawn';
  /** The request the child reported its last step for. */
  private stepId = 0;
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
    // --expose-gc: the child collects its transfer garbage itself (native-child-entry.ts).
    const nodeArgs = [...entry.execArgv, '--expose-gc'];
    if (opts.memoryMb) nodeArgs.push(`--max-old-space-size=${Math.max(64, Math.floor(opts.memoryMb / 2))}`);
    nodeArgs.push(entry.file);
    const prlimit = opts.memoryMb ? findPrlimit() : null;
    const [cmd, args] = prlimit
      ? [prlimit, [`--data=${Math.floor(opts.memoryMb! * 1024 * 1024)}`, '--', process.execPath, ...nodeArgs]]
      : [process.execPath, nodeArgs];
    // fd 3: the IPC channel; fd 4: the socket that large buffers travel on (bulk-channel.ts).
    this.proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc', 'pipe'], serialization: 'advanced', env: childEnv() });
    // The session saturates its cores; at a lower priority it leaves this process' event loop (HTTP,
    // job bookkeeping) the CPU whenever both are runnable, and loses nothing when the loop is idle.
    if (this.proc.pid !== undefined) {
      try {
        os.setPriority(this.proc.pid, Math.min(19, os.getPriority() + CHILD_NICENESS));
      } catch {
        // Not permitted here: the child keeps this process' priority.
      }
    }
    this.bulk = new BulkChannel(this.proc.stdio[4] as Duplex, (m) => this.onMessage(m as ChildMessage));
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stderr!.on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-STDERR_TAIL);
    });
    this.proc.on('message', (m) => this.bulk.receive(m));
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

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** The caller's words for request `p`, once the child has reported starting the step they name. */
  private static doing(p: Pending | undefined): string | undefined {
    return p?.doing !== undefined && p.step === p.reached ? p.doing : undefined;
  }

  private onMessage(m: ChildMessage): void {
    if (m.type === 'step') {
      this.step = m.step;
      this.stepId = m.id;
      const p = this.pending.get(m.id);
      if (p) p.reached = m.step;
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    const doing = Child.doing(p);
    this.pending.delete(m.id);
    if (p.timer) clearTimeout(p.timer);
    if (m.ok) p.resolve(m.value);
    else p.reject(new NativeChildError({ kind: 'error', model: this.label, step: p.reached ?? this.step, ...(doing ? { doing } : {}), message: m.message }));
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    const k = this.killedFor;
    // The request the child was in when it ended: the one it reported its last step for.
    const doing = Child.doing(this.pending.get(this.stepId));
    const at = { model: this.label, step: this.step, ...(doing ? { doing } : {}) };
    const f: NativeFailure =
      k?.kind === 'timeout'
        ? { kind: 'timeout', ...at, timeoutMs: k.timeoutMs }
        : k?.kind === 'cancelled'
          ? { kind: 'cancelled', ...at }
          : { kind: 'crashed', ...at, signal, exitCode: code, stderr: this.stderr };
    this.failAll(f);
  }

  private failAll(f: NativeFailure): void {
    if (!this.dead) this.dead = f;
    for (const [id, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new NativeChildError(f));
    }
  }

  /** Kills the child now; pending and later calls fail as `why`. */
  kill(why: { kind: 'timeout'; timeoutMs: number } | { kind: 'cancelled' }): void {
    if (this.dead || this.killedFor) return;
    this.killedFor = why;
    this.proc.kill('SIGKILL');
  }

  get failure(): NativeFailure | null {
    return this.dead;
  }

  /** `doing` names the request in failures once the child has reported starting `step`. */
  call<T>(req: ChildCall, at: { step: NativeStep; doing: string } | null = null): Promise<T> {
    if (this.dead) return Promise.reject(new NativeChildError(this.dead));
    const id = this.nextId++;
    const timeoutMs = this.opts.timeoutMs ?? 120_000;
    return new Promise<T>((resolve, reject) => {
      const timer = timeoutMs > 0 ? setTimeout(() => this.kill({ kind: 'timeout', timeoutMs }), timeoutMs) : null;
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, step: at?.step ?? null, doing: at?.doing, reached: null });
      // A failed send means the child is gone; its exit reports how.
      this.proc.send(this.bulk.pack({ ...req, id } as ChildRequest).message, () => {});
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

  /** Resolves once the process has exited. */
  whenExited(): Promise<void> {
    return this.exited;
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
    ...(opts.lesion ? { lesion: opts.lesion } : {}),
  };
  return { child, ready: child.call<OpenReply>(req) };
}

/**
 * Runs `feeds` through the model at `modelPath` (an already edited file whose outputs include
 * `fetch`) and reports each fetched tensor's type and shape.
 */
export async function probeInChild(modelPath: string, feeds: Record<string, FeedSpec>, fetch: string[], opts: NativeChildOptions = {}): Promise<ProbeShape[]> {
  const session = await NativeSession.open(modelPath, opts);
  try {
    return await session.probe(feeds, fetch);
  } finally {
    await session.close();
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
    const a = await child.call<SessionAnswer>({ op: 'call', call: { kind: 'probe', feeds, fetch: info.tensors.map((t) => t.name) } });
    if (a.kind !== 'probe') throw new Error('unexpected answer from the session');
    return info.tensors.map((t, i) => ({ ...t, type: a.shapes[i].type, shape: a.shapes[i].dims }));
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

  /** The child's process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Runs one call; `doing` names it in failures (default: the step's own words). */
  call(c: SessionCall, doing?: string): Promise<SessionAnswer> {
    return this.child.call<SessionAnswer>({ op: 'call', call: c }, doing === undefined ? null : { step: STEP_OF[c.kind], doing });
  }

  /** The child's memory now (between calls). */
  memory(): Promise<ChildMemory> {
    return this.child.call<ChildMemory>({ op: 'memory' });
  }

  async probe(feeds: Record<string, FeedSpec>, fetch: string[]): Promise<ProbeShape[]> {
    const a = await this.call({ kind: 'probe', feeds, fetch });
    if (a.kind !== 'probe') throw new Error('unexpected answer from the session');
    return a.shapes;
  }

  /** Runs a batch and pools each requested layer in the child (only rows × units floats come back). */
  async pool(feeds: Record<string, FeedSpec>, layers: LayerFetch[], lengths: Int32Array | null): Promise<{ layers: PooledLayerResult[]; runMs: number }> {
    const a = await this.call({ kind: 'pool', feeds, layers, lengths: lengths ? (lengths.slice().buffer as ArrayBuffer) : null });
    if (a.kind !== 'pool') throw new Error('unexpected answer from the session');
    return { runMs: a.runMs, layers: a.layers.map(pooledLayer) };
  }

  /** Kills the child at once (a running call fails as 'cancelled'); resolves when it has exited. */
  kill(): Promise<void> {
    this.child.kill({ kind: 'cancelled' });
    return this.child.whenExited();
  }

  close(): Promise<void> {
    return this.child.close();
  }
}

/** A pooled layer as it crossed a thread or process boundary, as typed arrays. */
export function pooledLayer(l: PooledLayerOut): PooledLayerResult {
  return { key: l.key, rows: l.rows, units: l.units, dims: l.dims, data: new Float32Array(l.data), sample: new Int32Array(l.sample), token: new Int32Array(l.token) };
}
