/**
 * The child process of `native-child.ts`: holds one ONNX Runtime session (session-core.ts) and
 * answers requests over the IPC channel. Before each native step it reports the step and waits until
 * the message is out, so that a crash inside the step is attributed to it.
 */
import fs from 'node:fs';
import net from 'node:net';
import { BulkChannel } from './bulk-channel.ts';
import { exposeTensors, inspectModel, producedTensors } from '../onnx/model.ts';
import { SessionCore } from './session-core.ts';
import type { SessionCall } from './worker-protocol.ts';
import type { ChildMemory, ChildMessage, ChildRequest, NativeStep, OpenReply, OpenRequest } from './native-child.ts';

let core: SessionCore | null = null;

/**
 * Every call leaves its inputs and outputs behind as garbage (the buffers that crossed the socket,
 * the tensors ONNX Runtime returned). Left to V8, they are collected once external memory has grown
 * by tens of MB, and this process' peak RSS grew with the number of batches a job ran (the bench's
 * memory step: the server and this process peaked at ~455 MB together at 5,000 texts against ~390 MB
 * at 500, most of the difference here). A young-generation collection after every COLLECT_BYTES moved
 * keeps freed buffers reused (~415 MB at 5,000 texts); on this small heap it takes well under a
 * millisecond. (`gc` exists because the parent starts this process with --expose-gc.)
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

let busy: Promise<void> = Promise.resolve();
// One request at a time, in order.
const bulk = new BulkChannel(new net.Socket({ fd: 4, readable: true, writable: true }), (req) => {
  busy = busy.then(() => handle(req as ChildRequest));
});

/** Resolves once the message and its large buffers are handed to the kernel (before any blocking native step). */
function send(m: ChildMessage): Promise<void> {
  const { message, written } = bulk.pack(m);
  const sent = new Promise<void>((resolve, reject) => process.send!(message, undefined, {}, (e) => (e ? reject(e) : resolve())));
  return Promise.all([sent, written]).then(() => undefined);
}

const step = (s: NativeStep) => send({ type: 'step', step: s });

const STEP_OF: Record<SessionCall['kind'], NativeStep> = { probe: 'run', pool: 'pool', behaviour: 'behaviour' };

async function openSession(req: OpenRequest): Promise<OpenReply> {
  await step('read-model');
  let file = req.modelPath;
  let tensors: OpenReply['tensors'] = [];
  if (req.exposeAll) {
    const bytes = fs.readFileSync(req.modelPath);
    const produced = producedTensors(inspectModel(bytes));
    tensors = [...produced].map(([name, n]) => ({ name, opType: n.opType, node: n.name }));
    await step('expose-tensors');
    fs.writeFileSync(req.scratchPath!, exposeTensors(bytes, tensors.map((t) => t.name)));
    file = req.scratchPath!;
  }
  await step('create-session');
  core = await SessionCore.open(file, { intraOpThreads: req.intraOpThreads, graphOptimizationLevel: req.graphOptimizationLevel, logSeverityLevel: 3, ...(req.lesion ? { lesion: req.lesion } : {}) });
  return { inputs: core.inputNames, outputs: core.outputNames, tensors };
}

async function handle(req: ChildRequest): Promise<void> {
  let value: unknown;
  try {
    if (req.op === 'open') value = await openSession(req);
    else if (req.op === 'memory') value = memory();
    else if (req.op === 'call') {
      if (!core) throw new Error('no session is open');
      await step(STEP_OF[req.call.kind]);
      value = (await core.call(req.call)).answer;
    } else {
      await step('close');
      await core?.release();
      core = null;
      await send({ type: 'reply', id: req.id, ok: true, value: null });
      process.exit(0);
    }
  } catch (e) {
    await send({ type: 'reply', id: req.id, ok: false, message: (e as Error).message ?? String(e) });
    if (req.op === 'open') process.exit(1);
    return;
  }
  await send({ type: 'reply', id: req.id, ok: true, value });
  collectTransfers();
}

process.on('message', (m) => bulk.receive(m));
// The parent is gone: nothing left to answer.
process.on('disconnect', () => process.exit(0));
