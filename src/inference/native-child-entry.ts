/**
 * The child process of `native-child.ts`: holds one ONNX Runtime session and answers requests over
 * the IPC channel. Before each native step it reports the step and waits until the message is out,
 * so that a crash inside the step is attributed to it.
 */
import fs from 'node:fs';
import * as ort from 'onnxruntime-node';
import { exposeTensors, inspectModel, producedTensors } from '../onnx/model.ts';
import type { Pooling } from '../domain/manifest.ts';
import { poolTensor } from './pooling.ts';
import type { FeedSpec, ProbeShape } from './worker-protocol.ts';
import type { ChildMessage, ChildRequest, NativeStep, OpenReply, OpenRequest, PoolReply } from './native-child.ts';

let session: ort.InferenceSession | null = null;
let busy: Promise<void> = Promise.resolve();

function send(m: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => process.send!(m, undefined, {}, (e) => (e ? reject(e) : resolve())));
}

const step = (s: NativeStep) => send({ type: 'step', step: s });

function toTensor(f: FeedSpec): ort.Tensor {
  if (f.type === 'float32') return new ort.Tensor('float32', new Float32Array(f.data), f.dims);
  if (f.type === 'int64') return new ort.Tensor('int64', new BigInt64Array(f.data), f.dims);
  if (f.type === 'int32') return new ort.Tensor('int32', new Int32Array(f.data), f.dims);
  throw new Error(`unsupported feed type ${String((f as FeedSpec).type)}`);
}

function feedsOf(feeds: Record<string, FeedSpec>): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const [name, f] of Object.entries(feeds)) out[name] = toTensor(f);
  return out;
}

function asFloat32(t: ort.Tensor, name: string): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float64') return Float32Array.from(t.data as Float64Array);
  if (t.type === 'float16') {
    const d = t.data as unknown as { length: number; [i: number]: number };
    return Float32Array.from({ length: d.length }, (_, i) => Number(d[i]));
  }
  throw new Error(`tensor '${name}' has type ${t.type}; a topographic layer must be a float tensor`);
}

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
  session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: req.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: req.graphOptimizationLevel,
    logSeverityLevel: 3,
  });
  return { inputs: [...session.inputNames], outputs: [...session.outputNames], tensors };
}

async function run(feeds: Record<string, FeedSpec>, fetch: string[]): Promise<ProbeShape[]> {
  await step('run');
  const out = await session!.run(feedsOf(feeds), fetch);
  return fetch.map((name) => {
    const t = out[name];
    return { name, type: t ? t.type : 'missing', dims: t ? [...t.dims] : [] };
  });
}

async function pool(req: Extract<ChildRequest, { op: 'pool' }>): Promise<PoolReply> {
  await step('pool');
  const t0 = performance.now();
  const out = await session!.run(feedsOf(req.feeds), [...new Set(req.layers.map((l) => l.tensor))]);
  const runMs = performance.now() - t0;
  const lengths = req.lengths ? new Int32Array(req.lengths) : null;
  const layers: PoolReply['layers'] = req.layers.map((l) => {
    const t = out[l.tensor];
    if (!t) throw new Error(`the model did not return tensor '${l.tensor}'`);
    const p = poolTensor({ data: asFloat32(t, l.tensor), dims: t.dims }, l.unitAxis, l.pooling as Pooling, lengths);
    for (let i = 0; i < p.data.length; i++) {
      if (!Number.isFinite(p.data[i])) {
        throw new Error(`layer '${l.key}' (tensor '${l.tensor}') produced a non-finite activation (${p.data[i]}) for sample ${p.sample[Math.floor(i / p.units)]} of the batch`);
      }
    }
    return { key: l.key, rows: p.rows, units: p.units, dims: [...t.dims], data: p.data.buffer as ArrayBuffer, sample: p.sample.buffer as ArrayBuffer, token: p.token.buffer as ArrayBuffer };
  });
  return { runMs, layers };
}

async function handle(req: ChildRequest): Promise<void> {
  let value: unknown;
  try {
    if (req.op === 'open') value = await openSession(req);
    else if (req.op === 'run') value = await run(req.feeds, req.fetch);
    else if (req.op === 'pool') value = await pool(req);
    else {
      await step('close');
      await session?.release();
      session = null;
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

// One request at a time, in order.
process.on('message', (req: ChildRequest) => {
  busy = busy.then(() => handle(req));
});
// The parent is gone: nothing left to answer.
process.on('disconnect', () => process.exit(0));
