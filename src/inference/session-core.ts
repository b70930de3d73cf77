/**
 * One ONNX Runtime session and the calls run on it: pool a batch's layers, probe shapes, score
 * behaviour under lesion configurations. Shared by both places a session lives: a worker thread
 * (session-worker.ts) and a child process (native-child-entry.ts). Only pooled rows and
 * per-stimulus measures leave it; the returned `transfer` lists the buffers the answer owns.
 */
import * as ort from 'onnxruntime-node';
import { isScoreTargets } from '../domain/scoring.ts';
import { classifierValues, lmValues, nextTokenTargets, nllValues } from './behaviour.ts';
import { owned, poolOutputs, type FetchedTensor, type PoolCall } from './pool-outputs.ts';
import type { BehaviourResult, FeedSpec, LesionConfig, LesionSite, ProbeShape, RawAnswer, SessionAnswer, SessionCall } from './worker-protocol.ts';
import { sessionOptions } from './session-options.ts';

export interface SessionInit {
  intraOpThreads: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** ORT's log level (0 verbose … 4 fatal); default ORT's own. */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /** A lesion copy: its sites (fed on every run) and the configuration pool/probe calls run with (null: intact). */
  lesion?: { sites: LesionSite[]; config: LesionConfig | null };
}

export function toTensor(f: FeedSpec): ort.Tensor {
  if (f.type === 'float32') return new ort.Tensor('float32', new Float32Array(f.data), f.dims);
  if (f.type === 'int64') return new ort.Tensor('int64', new BigInt64Array(f.data), f.dims);
  if (f.type === 'int32') return new ort.Tensor('int32', new Int32Array(f.data), f.dims);
  if (f.type === 'bool') return new ort.Tensor('bool', new Uint8Array(f.data), f.dims);
  if (f.type === 'uint8') return new ort.Tensor('uint8', new Uint8Array(f.data), f.dims);
  throw new Error(`unsupported feed type ${String((f as FeedSpec).type)}`);
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

/**
 * The multipliers and offsets fed to a lesion copy: one pair of arrays per site, intact (m = 1, o = 0)
 * between runs; a configuration is written into them for one run and undone after it.
 */
class LesionSites {
  private readonly sites: { site: LesionSite; scale: Float32Array; offset: Float32Array }[];
  private readonly byLayer: Map<string, { site: LesionSite; scale: Float32Array; offset: Float32Array }>;
  readonly feeds: Record<string, ort.Tensor> = {};

  constructor(sites: LesionSite[]) {
    this.sites = sites.map((site) => ({ site, scale: new Float32Array(site.units).fill(1), offset: new Float32Array(site.units) }));
    this.byLayer = new Map(this.sites.map((s) => [s.site.layer, s]));
    for (const s of this.sites) {
      this.feeds[s.site.scaleInput] = new ort.Tensor('float32', s.scale, s.site.dims);
      this.feeds[s.site.offsetInput] = new ort.Tensor('float32', s.offset, s.site.dims);
    }
  }

  get empty(): boolean {
    return this.sites.length === 0;
  }

  apply(c: LesionConfig | null): void {
    if (!c) return;
    for (const l of c.layers) {
      const s = this.byLayer.get(l.layer);
      if (!s) throw new Error(`the lesion copy has no site for layer '${l.layer}'`);
      for (let k = 0; k < l.units.length; k++) {
        const u = l.units[k];
        if (!(u >= 0 && u < s.site.units)) throw new Error(`unit ${u} is outside layer '${l.layer}' (${s.site.units} units)`);
        s.scale[u] = l.scale[k];
        s.offset[u] = l.offset[k];
      }
    }
  }

  undo(c: LesionConfig | null): void {
    if (!c) return;
    for (const l of c.layers) {
      const s = this.byLayer.get(l.layer);
      if (!s) continue;
      for (const u of l.units) {
        s.scale[u] = 1;
        s.offset[u] = 0;
      }
    }
  }
}

function answerOf(r: Record<string, Float64Array>, transfer: ArrayBuffer[]): BehaviourResult {
  const res: BehaviourResult = {};
  for (const [k, v] of Object.entries(r)) {
    res[k] = v.buffer as ArrayBuffer;
    transfer.push(v.buffer as ArrayBuffer);
  }
  return res;
}

export class SessionCore {
  private readonly sites: LesionSites;
  /** The score targets of a lesion copy, as runs that do not score feed them. */
  private readonly unscored: Record<string, ort.Tensor> = {};

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly defaultConfig: LesionConfig | null,
    sites: LesionSite[],
  ) {
    this.sites = new LesionSites(sites);
    for (const name of session.inputNames) if (isScoreTargets(name)) this.unscored[name] = new ort.Tensor('int64', new BigInt64Array(1), [1, 1, 1]);
  }

  static async open(modelPath: string, init: SessionInit): Promise<SessionCore> {
    const session = await ort.InferenceSession.create(modelPath, {
      ...sessionOptions(init.intraOpThreads),
      graphOptimizationLevel: init.graphOptimizationLevel ?? 'all',
      ...(init.logSeverityLevel !== undefined ? { logSeverityLevel: init.logSeverityLevel } : {}),
    });
    return new SessionCore(session, init.lesion?.config ?? null, init.lesion?.sites ?? []);
  }

  get inputNames(): string[] {
    return [...this.session.inputNames];
  }

  get outputNames(): string[] {
    return [...this.session.outputNames];
  }

  release(): Promise<void> {
    return this.session.release();
  }

  /** Runs a call; with `raw`, a pool call answers its outputs unpooled (see {@link RawAnswer}). */
  async call(c: SessionCall, raw = false): Promise<{ answer: SessionAnswer | RawAnswer; transfer: ArrayBuffer[] }> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, f] of Object.entries(c.feeds)) feeds[name] = toTensor(f);
    if (c.kind === 'behaviour') return this.behaviour(c, feeds);
    if (c.kind === 'probe') {
      const out = await this.runWith(feeds, c.fetch, this.defaultConfig);
      const shapes: ProbeShape[] = c.fetch.map((name) => {
        const t = out[name];
        return { name, type: t ? t.type : 'missing', dims: t ? [...t.dims] : [] };
      });
      return { answer: { kind: 'probe', shapes }, transfer: [] };
    }
    const { fetched, runMs } = await this.run(c, feeds);
    if (!raw) return poolOutputs(c, fetched, runMs);
    // Buffers of their own, to be transferred.
    const tensors = fetched.map((t) => ({ tensor: t.tensor, dims: t.dims, data: owned(t.data).buffer as ArrayBuffer }));
    return { answer: { kind: 'raw', tensors, runMs }, transfer: tensors.map((t) => t.data) };
  }

  /** Runs with a configuration written into the site inputs, undone afterwards whatever happens. */
  private async runWith(feeds: Record<string, ort.Tensor>, fetch: string[], c: LesionConfig | null): Promise<ort.InferenceSession.OnnxValueMapType> {
    if (this.sites.empty) return this.session.run({ ...this.unscored, ...feeds }, fetch);
    this.sites.apply(c);
    try {
      return await this.session.run({ ...this.unscored, ...feeds, ...this.sites.feeds }, fetch);
    } finally {
      this.sites.undo(c);
    }
  }

  /** The fetched tensors of a pool call, as float32. */
  private async run(c: PoolCall, feeds: Record<string, ort.Tensor>): Promise<{ fetched: FetchedTensor[]; runMs: number }> {
    const t0 = performance.now();
    const names = [...new Set(c.layers.map((l) => l.tensor))];
    const out = await this.runWith(feeds, names, this.defaultConfig);
    const runMs = performance.now() - t0;
    const fetched: FetchedTensor[] = [];
    for (const name of names) {
      const t = out[name];
      if (!t) throw new Error(`the model did not return tensor '${name}'`);
      fetched.push({ tensor: name, dims: [...t.dims], data: tensorAsFloat32(t, name) });
    }
    return { fetched, runMs };
  }

  /** The intact model, then every configuration, on one batch: per-stimulus measures of each. */
  private async behaviour(c: Extract<SessionCall, { kind: 'behaviour' }>, feeds: Record<string, ort.Tensor>): Promise<{ answer: SessionAnswer; transfer: ArrayBuffer[] }> {
    const { tensor, kind } = c.output;
    const lengths = c.lengths ? new Int32Array(c.lengths) : null;
    const targets = c.targets ? new Int32Array(c.targets) : null;
    const labels = c.labels ? new Int32Array(c.labels) : null;
    if (kind === 'lm' && (!lengths || !targets)) throw new Error('a language-model output needs lengths and token ids');
    if (kind === 'classifier' && !labels) throw new Error('a classifier output needs labels (−1 for none)');
    const results: BehaviourResult[] = [];
    const transfer: ArrayBuffer[] = [];
    let intact: { logp: Float64Array; pred: Int32Array } | null = null;
    let runMs = 0;
    const score = kind === 'lm' ? c.output.score : undefined;
    if (score) feeds[score.targets] = nextTokenTargets(targets!, lengths!, score.vocab);
    const fetch = score ? score.nll : tensor;
    for (let i = 0; i <= c.configs.length; i++) {
      const tr = performance.now();
      const out = await this.runWith(feeds, [fetch], i === 0 ? null : c.configs[i - 1]);
      runMs += performance.now() - tr;
      const t = out[fetch];
      if (!t) throw new Error(`the model did not return tensor '${fetch}'`);
      const r: Record<string, Float64Array> = {};
      if (score) {
        Object.assign(r, nllValues(t.data as Float32Array, t.dims, lengths!));
        results.push(answerOf(r, transfer));
        continue;
      }
      const logits = tensorAsFloat32(t, tensor);
      if (kind === 'lm') Object.assign(r, lmValues(logits, t.dims, targets!, lengths!));
      else {
        const cv = classifierValues(logits, t.dims, labels!, intact);
        if (i === 0) intact = cv.soft;
        Object.assign(r, cv.values);
      }
      results.push(answerOf(r, transfer));
    }
    return { answer: { kind: 'behaviour', results, runMs }, transfer };
  }
}
