/**
 * A session on a worker thread (the pool's 'thread' isolation): `session.run` blocks the thread it
 * runs on, so it never runs on the main thread. The calls themselves are session-core.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SessionCore, type SessionInit } from './session-core.ts';
import type { WorkerRequest, WorkerResponse } from './worker-protocol.ts';

/**
 * A session process's thread (native-child-entry.ts) sets both: `rawPool`, pool calls answer their
 * outputs unpooled (the caller pools them); `gate`, a call waits until the caller has written its id
 * there (the caller reports the step to its parent first, so that a crash is attributed to it).
 */
type Init = SessionInit & { modelPath: string; rawPool?: boolean; gate?: SharedArrayBuffer };
const port = parentPort!;
/** Without `init` in workerData, the first message is the init: a session process starts this thread before it knows the model. */
const init: Init = (workerData as { init?: Init }).init ?? (await new Promise<Init>((resolve) => port.once('message', resolve)));
const gate = init.gate ? new Int32Array(init.gate) : null;

/** Blocks this thread until the caller lets call `id` start. */
function waitForGate(id: number): void {
  if (!gate) return;
  for (let v = Atomics.load(gate, 0); v < id; v = Atomics.load(gate, 0)) Atomics.wait(gate, 0, v);
}

function reply(msg: WorkerResponse, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

/**
 * In a session process (started with --expose-gc, which reaches this thread too) a call's inputs and
 * the tensors ONNX Runtime returned are garbage once it is answered (their buffers moved on), and
 * the native memory behind them is reused only once they are collected. A young-generation collection
 * after every MB that passed through keeps it reused, as the process' main thread does with the
 * buffers it sends on (native-child-entry.ts).
 */
const COLLECT_BYTES = 1 << 20;
let passed = 0;
function collectGarbage(req: WorkerRequest, answeredBytes: number): void {
  if (typeof globalThis.gc !== 'function') return;
  for (const f of Object.values(req.feeds)) passed += f.data.byteLength;
  passed += answeredBytes;
  if (passed < COLLECT_BYTES) return;
  passed = 0;
  globalThis.gc({ type: 'minor' });
}

async function main(): Promise<void> {
  let core: SessionCore;
  try {
    core = await SessionCore.open(init.modelPath, init);
  } catch (e) {
    reply({ id: -1, ok: false, error: (e as Error).message });
    return;
  }
  reply({ id: -1, ok: true, kind: 'ready', inputs: core.inputNames, outputs: core.outputNames });
  // One call at a time, in order (a session process queues the next one here while one runs).
  const queue: WorkerRequest[] = [];
  let running = false;
  const next = (): void => {
    const req = queue.shift();
    if (!req) {
      running = false;
      return;
    }
    running = true;
    waitForGate(req.id);
    core
      .call(req, init.rawPool === true)
      .then(
        ({ answer, transfer }) => {
          // Counted before the buffers move (a moved buffer reads as empty).
          const bytes = transfer.reduce((n, b) => n + b.byteLength, 0);
          reply({ id: req.id, ok: true, ...answer }, transfer);
          collectGarbage(req, bytes);
        },
        (e: unknown) => reply({ id: req.id, ok: false, error: (e as Error).message ?? String(e) }),
      )
      .finally(next);
  };
  port.on('message', (req: WorkerRequest) => {
    queue.push(req);
    if (!running) next();
  });
}

void main();
