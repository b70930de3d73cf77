/**
 * One ONNX Runtime session in a worker thread. `session.run` blocks the thread it runs on, so every
 * inference happens here, never on the main thread. The worker pools each requested layer before
 * answering, so only rows × units floats cross the thread boundary.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { Pooling } from '../domain/manifest.ts';
import { classifierValues, lmValues } from './behaviour.ts';
import { poolTensor } from './pooling.ts';
import { sessionOptions } from './session-options.ts';
import type { BehaviourResult, FeedSpec, LesionConfig, LesionSite, WorkerRequest, WorkerResponse, PooledLayerOut, ProbeShape } from './worker-protocol.ts';

interface Init {
  modelPath: string;
  intraOpThreads: number;
  /** A lesion copy: its sites (fed on every run) and the configuration pool/probe requests run with (null: intact). */
  lesion?: { sites: LesionSite[]; config: LesionConfig | null };
}

const init = (workerData as { init: Init }).init;
const port = parentPort!;
let session: ort.InferenceSession | null = null;

/**
 * The multipliers and offsets fed to a lesion copy: one pair of arrays per site, intact (m = 1, o = 0)
 * between runs; a configuration is written into them for one run and undone after it.
 */
const sites = (init.lesion?.sites ?? []).map((site) => {
  const scale = new Float32Array(site.units).fill(1);
  const offset = new Float32Array(site.units);
  return { site, scale, offset, tensors: { [site.scaleInput]: new ort.Tensor('float32', scale, site.dims), [site.offsetInput]: new ort.Tensor('float32', offset, site.dims) } };
});
const siteByLayer = new Map(sites.map((s) => [s.site.layer, s]));

function siteFeeds(): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const s of sites) Object.assign(out, s.tensors);
  return out;
}

function applyConfig(c: LesionConfig | null): void {
  if (!c) return;
  for (const l of c.layers) {
    const s = siteByLayer.get(l.layer);
    if (!s) throw new Error(`the lesion copy has no site for layer '${l.layer}'`);
    for (let k = 0; k < l.units.length; k++) {
      const u = l.units[k];
      if (!(u >= 0 && u < s.site.units)) throw new Error(`unit ${u} is outside layer '${l.layer}' (${s.site.units} units)`);
      s.scale[u] = l.scale[k];
      s.offset[u] = l.offset[k];
    }
  }
}

function undoConfig(c: LesionConfig | null): void {
  if (!c) return;
  for (const l of c.layers) {
    const s = siteByLayer.get(l.layer);
    if (!s) continue;
    for (const u of l.units) {
      s.scale[u] = 1;
      s.offset[u] = 0;
    }
  }
}

/** Runs with a configuration written into the site inputs, undone afterwards whatever happens. */
async function runWith(feeds: Record<string, ort.Tensor>, fetch: string[], c: LesionConfig | null): Promise<ort.InferenceSession.OnnxValueMapType> {
  if (sites.length === 0) return session!.run(feeds, fetch);
  applyConfig(c);
  try {
    return await session!.run({ ...feeds, ...siteFeeds() }, fetch);
  } finally {
    undoConfig(c);
  }
}

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
  const defaultConfig = init.lesion?.config ?? null;
  if (req.kind === 'behaviour') {
    await behaviour(req, feeds, t0);
    return;
  }
  if (req.kind === 'probe') {
    const out = await runWith(feeds, req.fetch, defaultConfig);
    const shapes: ProbeShape[] = req.fetch.map((name) => {
      const t = out[name];
      return { name, type: t ? t.type : 'missing', dims: t ? [...t.dims] : [] };
    });
    reply({ id: req.id, ok: true, kind: 'probe', shapes, ms: performance.now() - t0 });
    return;
  }
  const fetch = req.layers.map((l) => l.tensor);
  const out = await runWith(feeds, [...new Set(fetch)], defaultConfig);
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

/** The intact model, then every configuration, on one batch: per-stimulus measures of each. */
async function behaviour(req: Extract<WorkerRequest, { kind: 'behaviour' }>, feeds: Record<string, ort.Tensor>, t0: number): Promise<void> {
  const { tensor, kind } = req.output;
  const lengths = req.lengths ? new Int32Array(req.lengths) : null;
  const targets = req.targets ? new Int32Array(req.targets) : null;
  const labels = req.labels ? new Int32Array(req.labels) : null;
  if (kind === 'lm' && (!lengths || !targets)) throw new Error('a language-model output needs lengths and token ids');
  if (kind === 'classifier' && !labels) throw new Error('a classifier output needs labels (−1 for none)');
  const results: BehaviourResult[] = [];
  const transfer: ArrayBuffer[] = [];
  let intact: { logp: Float64Array; pred: Int32Array } | null = null;
  let runMs = 0;
  for (let i = 0; i <= req.configs.length; i++) {
    const tr = performance.now();
    const out = await runWith(feeds, [tensor], i === 0 ? null : req.configs[i - 1]);
    runMs += performance.now() - tr;
    const t = out[tensor];
    if (!t) throw new Error(`the model did not return tensor '${tensor}'`);
    const logits = tensorAsFloat32(t, tensor);
    const r: Record<string, Float64Array> = {};
    if (kind === 'lm') Object.assign(r, lmValues(logits, t.dims, targets!, lengths!));
    else {
      const c = classifierValues(logits, t.dims, labels!, intact);
      if (i === 0) intact = c.soft;
      Object.assign(r, c.values);
    }
    const res: BehaviourResult = {};
    for (const [k, v] of Object.entries(r)) {
      res[k] = v.buffer as ArrayBuffer;
      transfer.push(v.buffer as ArrayBuffer);
    }
    results.push(res);
  }
  reply({ id: req.id, ok: true, kind: 'behaviour', results, runMs, ms: performance.now() - t0 }, transfer);
}

async function main(): Promise<void> {
  try {
    session = await ort.InferenceSession.create(init.modelPath, sessionOptions(init.intraOpThreads));
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
