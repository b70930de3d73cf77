/**
 * One ONNX Runtime session in a worker thread. `session.run` blocks the thread it runs on, so every
 * inference happens here, never on the main thread. The worker pools each requested layer before
 * answering, so only rows × units floats cross the thread boundary.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { Pooling } from '../domain/manifest.ts';
import { poolTensor } from './pooling.ts';
import type { FeedSpec, WorkerRequest, WorkerResponse, PooledLayerOut, ProbeShape } from './worker-protocol.ts';

interface Init {
  modelPath: string;
  intraOpThreads: number;
}

const init = (workerData as { init: Init }).init;
const port = parentPort!;
let session: ort.InferenceSession | null = null;

function toTensor(f: FeedSpec): ort.Tensor {
  if (f.type === 'float32') return new ort.Tensor('float32', new Float32Array(f.data), f.dims);
  if (f.type === 'int64') return new ort.Tensor('int64', new BigInt64Array(f.data), f.dims);
  if (f.type === 'int32') return new ort.Tensor('int32', new Int32Array(f.data), f.dims);
  throw new Error(`unsupported feed type ${String((f as FeedSpec).type)}`);
}

function reply(msg: WorkerResponse, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

function tensorAsFloat32(t: ort.Tensor, name: string): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float64') return Float32Array.from(t.data as Float64Array);
  if (t.type === 'float16') {
    const d = t.data as unknown as { length: number; [i: number]: number };
    return Float32Array.from({ length: d.length }, (_, i) => Number(d[i]));
  }
  throw new Error(`tensor '${name}' has type ${t.type}; a topographic layer must be a float tensor`);
}

async function handle(req: WorkerRequest): Promise<void> {
  if (!session) throw new Error('session not ready');
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, f] of Object.entries(req.feeds)) feeds[name] = toTensor(f);
  const t0 = performance.now();
  if (req.kind === 'probe') {
    const out = await session.run(feeds, req.fetch);
    const shapes: ProbeShape[] = req.fetch.map((name) => {
      const t = out[name];
      return { name, type: t ? t.type : 'missing', dims: t ? [...t.dims] : [] };
    });
    reply({ id: req.id, ok: true, kind: 'probe', shapes, ms: performance.now() - t0 });
    return;
  }
  const fetch = req.layers.map((l) => l.tensor);
  const out = await session.run(feeds, [...new Set(fetch)]);
  const runMs = performance.now() - t0;
  const lengths = req.lengths ? new Int32Array(req.lengths) : null;
  const layers: PooledLayerOut[] = [];
  const transfer: ArrayBuffer[] = [];
  for (const l of req.layers) {
    const t = out[l.tensor];
    if (!t) throw new Error(`the model did not return tensor '${l.tensor}'`);
    const data = tensorAsFloat32(t, l.tensor);
    const pooled = poolTensor({ data, dims: t.dims }, l.unitAxis, l.pooling as Pooling, lengths);
    for (let i = 0; i < pooled.data.length; i++) {
      const v = pooled.data[i];
      if (v !== v || v === Infinity || v === -Infinity) {
        throw new Error(`layer '${l.key}' (tensor '${l.tensor}') produced a non-finite activation (${v}) for sample ${pooled.sample[Math.floor(i / pooled.units)]} of the batch`);
      }
    }
    layers.push({
      key: l.key,
      rows: pooled.rows,
      units: pooled.units,
      data: pooled.data.buffer as ArrayBuffer,
      sample: pooled.sample.buffer as ArrayBuffer,
      token: pooled.token.buffer as ArrayBuffer,
      dims: [...t.dims],
    });
    transfer.push(pooled.data.buffer as ArrayBuffer, pooled.sample.buffer as ArrayBuffer, pooled.token.buffer as ArrayBuffer);
  }
  reply({ id: req.id, ok: true, kind: 'pool', layers, runMs, ms: performance.now() - t0 }, transfer);
}

async function main(): Promise<void> {
  try {
    session = await ort.InferenceSession.create(init.modelPath, {
      intraOpNumThreads: init.intraOpThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    reply({ id: -1, ok: true, kind: 'ready', inputs: [...session.inputNames], outputs: [...session.outputNames] });
  } catch (e) {
    reply({ id: -1, ok: false, error: (e as Error).message });
    return;
  }
  // Requests are handled one at a time: the pool never sends a second before the first is answered.
  port.on('message', (req: WorkerRequest) => {
    handle(req).catch((e: unknown) => reply({ id: req.id, ok: false, error: (e as Error).message ?? String(e) }));
  });
}

void main();
