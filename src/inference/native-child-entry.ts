/**
 * The child process of `native-child.ts`: holds one ONNX Runtime session and answers requests over
 * the IPC channel. The session lives on a worker thread of this process (session-worker.ts), because
 * `session.run` blocks the thread it runs on: this thread goes on moving the last answer's buffers
 * to the parent and taking in the next request while the next batch runs. Before each native step it
 * reports the step (and the request it belongs to) and waits until the message is out, so that a
 * crash inside the step is attributed to it.
 */
import fs from 'node:fs';
import net from 'node:net';
import type { Worker } from 'node:worker_threads';
import { BulkChannel } from './bulk-channel.ts';
import { exposeTensors, inspectModel, producedTensors } from '../onnx/model.ts';
import { moduleUrl, startWorker } from './threads.ts';
import { fetchedOf, poolOutputs } from './pool-outputs.ts';
import type { RawAnswer, SessionAnswer, SessionCall, WorkerResponse } from './worker-protocol.ts';
import type { ChildMemory, ChildMessage, ChildRequest, NativeStep, OpenReply, OpenRequest } from './native-child.ts';

const SESSION_ENTRY = moduleUrl('./session-worker.ts', import.meta.url);

/**
 * Every call leaves its inputs and outputs behind as garbage (the buffers that crossed the socket).
 * Left to V8, they are collected once external memory has grown by tens of MB, and this process' peak
 * RSS grew with the number of batches a job ran (the bench's memory step: the server and this process
 * peaked at ~455 MB together at 5,000 texts against ~390 MB at 500, most of the difference here). A
 * young-generation collection after every COLLECT_BYTES moved keeps freed buffers reused (~415 MB at
 * 5,000 texts); on this small heap it takes well under a millisecond. (`gc` exists because the parent
 * starts this process with --expose-gc; the session thread collects its own, session-worker.ts.)
 */
const COLLECT_BYTES = 1 << 20;
let movedAtCollect = 0;
let collections = 0;
function collectTransfers(): void {
  if (bulk.moved - movedAtCollect < COLLECT_BYTES || typeof globalThis.gc !== 'function') return;
  movedAtCollect = bulk.moved;
  collections++;
  globalThis.gc({ type: 'minor' });
}

function memory(): ChildMemory {
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, arrayBufferBytes: m.arrayBuffers, movedBytes: bulk.moved, collections };
}

/** The session thread, and where this thread lets its next call start (see session-worker.ts). */
let session: Worker | null = null;
const gate = new Int32Array(new SharedArrayBuffer(4));
// Started at once: the thread loads its modules (ONNX Runtime among them) while the open request
// comes in; it opens the session when it gets the model (startSession). No flags of this process'
// own: V8 flags such as --expose-gc are process-wide, and a worker refuses them.
const thread = startWorker(SESSION_ENTRY, { execArgv: [] });

/** A call handed to the session thread, not yet answered. */
interface Call {
  id: number;
  call: SessionCall;
  resolve: (a: SessionAnswer | RawAnswer) => void;
  reject: (e: Error) => void;
}
/** Calls waiting their turn (their step not yet reported), and the one the session runs or may start. */
const waiting: Call[] = [];
let current: Call | null = null;

/** Lets the next call start once its step is reported (and out). */
function startNext(): void {
  if (current || !waiting.length) return;
  const c = waiting.shift()!;
  current = c;
  step(STEP_OF[c.call.kind], c.id).then(
    () => {
      Atomics.store(gate, 0, c.id);
      Atomics.notify(gate, 0);
    },
    () => process.exit(1), // the parent is gone
  );
}

/** Every call is answered: what a close waits for. */
let drained: (() => void) | null = null;

// Requests in order; calls go to the session thread at once (it runs them one after another, each
// once its step is out) and are answered as they finish; the others wait for the ones before them.
let busy: Promise<void> = Promise.resolve();
const bulk = new BulkChannel(new net.Socket({ fd: 4, readable: true, writable: true }), (m) => {
  const req = m as ChildRequest;
  if (req.op === 'call' && session) {
    void answerCall(req.id, req.call);
    return;
  }
  busy = busy.then(() => handle(req));
});

/** Sends a message; `sent` resolves once it is out, `written` once its large buffers are too. */
function post(m: ChildMessage): { sent: Promise<void>; written: Promise<void> } {
  const { message, written } = bulk.pack(m);
  const sent = new Promise<void>((resolve, reject) => process.send!(message, undefined, {}, (e) => (e ? reject(e) : resolve())));
  return { sent, written };
}

/** Resolves once the message and its large buffers are handed to the kernel. */
function send(m: ChildMessage): Promise<void> {
  const { sent, written } = post(m);
  return Promise.all([sent, written]).then(() => undefined);
}

/** Reports the step request `id` starts; resolves once the message is out. */
function step(s: NativeStep, id: number): Promise<void> {
  return post({ type: 'step', step: s, id }).sent;
}

const STEP_OF: Record<SessionCall['kind'], NativeStep> = { probe: 'run', pool: 'pool', behaviour: 'behaviour' };

/** The session thread died outside a call's answer: this process can do nothing more. */
function sessionDied(why: string): never {
  process.stderr.write(`session thread: ${why}\n`);
  process.exit(70);
}

function startSession(file: string, req: OpenRequest): Promise<{ inputs: string[]; outputs: string[] }> {
  // rawPool: this thread pools a batch's outputs while the session thread runs the next batch.
  const init = { modelPath: file, intraOpThreads: req.intraOpThreads, graphOptimizationLevel: req.graphOptimizationLevel, logSeverityLevel: 3, rawPool: true, gate: gate.buffer, ...(req.lesion ? { lesion: req.lesion } : {}) };
  const w = thread;
  w.postMessage(init);
  return new Promise((resolve, reject) => {
    w.once('message', (m: WorkerResponse) => {
      if (!(m.ok && m.kind === 'ready')) {
        reject(new Error(m.ok ? 'unexpected session message' : m.error));
        return;
      }
      session = w;
      w.on('message', (r: WorkerResponse) => {
        const c = current;
        if (!c || c.id !== r.id) return;
        current = null;
        startNext();
        if (!r.ok) c.reject(new Error(r.error));
        else if (r.kind === 'ready') c.reject(new Error('unexpected session message'));
        else c.resolve(r);
      });
      resolve({ inputs: m.inputs, outputs: m.outputs });
    });
    w.on('error', (e) => (session === w ? sessionDied(e.message) : reject(e)));
    // Before it is ready, a thread that could not open the session has answered why and then ends.
    w.on('exit', (code) => (session === w ? sessionDied(`exited with code ${code}`) : reject(new Error(`the session thread exited with code ${code}`))));
  });
}

/** Runs a call on the session thread (its feeds move there); a pool call's outputs are pooled here. */
async function runCall(id: number, c: SessionCall): Promise<SessionAnswer> {
  const transfer = new Set<ArrayBuffer>(Object.values(c.feeds).map((f) => f.data));
  // A pool call's lengths stay here too (copied), for the pooling.
  if (c.kind === 'behaviour') for (const b of [c.lengths, c.targets, c.labels]) if (b) transfer.add(b);
  const a = await new Promise<SessionAnswer | RawAnswer>((resolve, reject) => {
    waiting.push({ id, call: c, resolve, reject });
    session!.postMessage({ ...c, id }, [...transfer]);
    startNext();
  });
  if (a.kind !== 'raw') return a;
  if (c.kind !== 'pool') throw new Error('unexpected session answer');
  return poolOutputs(c, fetchedOf(a), a.runMs).answer;
}

let unanswered = 0;

/** Answers a call when it is done; its answer's buffers go out while the next call runs. */
async function answerCall(id: number, c: SessionCall): Promise<void> {
  unanswered++;
  let m: ChildMessage;
  try {
    m = { type: 'reply', id, ok: true, value: await runCall(id, c) };
  } catch (e) {
    m = { type: 'reply', id, ok: false, message: (e as Error).message ?? String(e) };
  }
  send(m).catch(() => process.exit(1));
  collectTransfers();
  if (--unanswered === 0) drained?.();
}

async function openSession(req: OpenRequest): Promise<OpenReply> {
  await step('read-model', req.id);
  let file = req.modelPath;
  let tensors: OpenReply['tensors'] = [];
  if (req.exposeAll) {
    const bytes = fs.readFileSync(req.modelPath);
    const produced = producedTensors(inspectModel(bytes));
    tensors = [...produced].map(([name, n]) => ({ name, opType: n.opType, node: n.name }));
    await step('expose-tensors', req.id);
    fs.writeFileSync(req.scratchPath!, exposeTensors(bytes, tensors.map((t) => t.name)));
    file = req.scratchPath!;
  }
  await step('create-session', req.id);
  return { ...(await startSession(file, req)), tensors };
}

async function handle(req: ChildRequest): Promise<void> {
  let value: unknown;
  try {
    if (req.op === 'open') value = await openSession(req);
    else if (req.op === 'memory') value = memory();
    else if (req.op === 'call') throw new Error('no session is open');
    else {
      if (unanswered > 0) await new Promise<void>((r) => (drained = r));
      await step('close', req.id);
      const w = session;
      session = null;
      w?.removeAllListeners('exit');
      await w?.terminate();
      await send({ type: 'reply', id: req.id, ok: true, value: null });
      process.exit(0);
    }
  } catch (e) {
    await send({ type: 'reply', id: req.id, ok: false, message: (e as Error).message ?? String(e) });
    if (req.op === 'open') process.exit(1);
    return;
  }
  await send({ type: 'reply', id: req.id, ok: true, value });
}

process.on('message', (m) => bulk.receive(m));
// The parent is gone: nothing left to answer.
process.on('disconnect', () => process.exit(0));
