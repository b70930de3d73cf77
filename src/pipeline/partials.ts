/**
 * Shard partials: what one shard of a pass (a contiguous slice of its batches) folds its batches into,
 * and their wire format. The same fold runs in the embedded pipeline and on a distributed worker, and
 * the coordinator merges partials in shard order, so both give bit-identical results.
 *
 * Kinds (the pass's `FoldSpec`):
 * - `moments`: per layer and set, Welford moments (and the pooled rows, when the job keeps them);
 * - `rows`: the pooled rows only, with each row's stimulus and token;
 * - `sums`: per layer, Σ over pooled rows of each unit and the row count (unit means of a reference set);
 * - `region`: per stimulus the mean of a region's units (and of its matched control);
 * - `topk`: a top-stimuli fold (heaps, histogram with samples, sum);
 * - `behaviour`: per stimulus the measures of the intact model and of each lesion configuration.
 */
import type { LesionConfig } from '../domain/lesion.ts';
import type { BehaviourFetch } from '../inference/worker-protocol.ts';
import type { PooledLayer } from '../inference/pool.ts';
import { Moments } from '../stats/moments.ts';
import { TopKHeaps } from '../stats/streaming.ts';
import type { BatchOut } from './infer.ts';
import { stimulusOf, type Batch } from './plan.ts';
import { TopStimuliFold, type FoldOptions, type RegionUnits } from './topk-fold.ts';

/** A region as JSON (units as numbers). */
export interface RegionJson {
  layer: string;
  units: number[];
}

export type FoldSpec =
  | { kind: 'moments'; nSets: number; rows: boolean }
  | { kind: 'rows' }
  | { kind: 'sums' }
  | { kind: 'region'; roi: RegionJson[]; control: RegionJson[] | null }
  | { kind: 'topk'; region: RegionJson[]; options: FoldOptions }
  | { kind: 'behaviour'; output: BehaviourFetch; configs: LesionConfig[] };

/** One layer's pooled rows of a shard, in the order they came: row r is (stim[r], token[r]). */
export interface LayerRows {
  units: number;
  rows: number;
  data: Float32Array;
  stim: Int32Array;
  token: Int32Array;
}

export type Partial =
  | { kind: 'moments'; moments: Moments[][]; rows: LayerRows[] | null }
  | { kind: 'rows'; rows: LayerRows[] }
  | { kind: 'sums'; sums: { sum: Float64Array; rows: number }[] }
  | { kind: 'region'; stim: Int32Array; roi: Float64Array; control: Float64Array | null }
  | { kind: 'topk'; fold: TopStimuliFold }
  /** values[measure]: (1 + configs) × n, row-major; column j is stimulus start + j. */
  | { kind: 'behaviour'; start: number; n: number; values: Record<string, Float64Array> };

export const regionOf = (r: RegionJson[]): RegionUnits[] => r.map((x) => ({ layer: x.layer, units: Int32Array.from(x.units) }));

/** Growable rows of one layer: batches are appended, concatenated once at the end. */
class RowsCollector {
  private chunks: { data: Float32Array; stim: Int32Array; token: Int32Array }[] = [];
  private n = 0;
  constructor(private readonly units: number) {}

  add(data: Float32Array, stim: Int32Array, token: Int32Array): void {
    this.chunks.push({ data, stim, token });
    this.n += stim.length;
  }

  take(): LayerRows {
    const out: LayerRows = { units: this.units, rows: this.n, data: new Float32Array(this.n * this.units), stim: new Int32Array(this.n), token: new Int32Array(this.n) };
    let o = 0;
    for (const c of this.chunks) {
      out.data.set(c.data, o * this.units);
      out.stim.set(c.stim, o);
      out.token.set(c.token, o);
      o += c.stim.length;
    }
    this.chunks = [];
    return out;
  }
}

/** The stimulus index of each row of a pooled batch. */
function rowStimuli(batch: Batch, pl: PooledLayer): Int32Array {
  const stim = new Int32Array(pl.rows);
  for (let i = 0; i < pl.rows; i++) stim[i] = stimulusOf(batch, pl.sample[i]);
  return stim;
}

/** Mean of the region's units in row r of each layer (by layer name). */
export function regionMean(region: RegionUnits[], byKey: Map<string, { data: Float32Array; units: number }>, r: number): number {
  let s = 0;
  let n = 0;
  for (const reg of region) {
    const p = byKey.get(reg.layer)!;
    const base = r * p.units;
    for (let j = 0; j < reg.units.length; j++) s += p.data[base + reg.units[j]];
    n += reg.units.length;
  }
  return s / n;
}

/**
 * Folds the batches of one shard, in batch order. `setOf(i)` is the set index of stimulus i (moments);
 * `units` the unit count of each pooled layer; `range` the shard's stimuli [start, end) for kinds whose
 * batches are in stimulus order (region, behaviour).
 */
export class ShardFolder {
  private moments: Moments[][] | null = null;
  private rows: RowsCollector[] | null = null;
  private sums: { sum: Float64Array; rows: number }[] | null = null;
  private region: { stim: number[]; roi: number[]; control: number[] | null; roiUnits: RegionUnits[]; controlUnits: RegionUnits[] | null } | null = null;
  private topk: TopStimuliFold | null = null;
  private values: Record<string, Float64Array> | null = null;

  constructor(
    private readonly spec: FoldSpec,
    units: number[],
    private readonly setOf: (i: number) => number,
    private readonly range: { start: number; end: number },
  ) {
    switch (spec.kind) {
      case 'moments':
        this.moments = units.map((u) => Array.from({ length: spec.nSets }, () => new Moments(u)));
        if (spec.rows) this.rows = units.map((u) => new RowsCollector(u));
        break;
      case 'rows':
        this.rows = units.map((u) => new RowsCollector(u));
        break;
      case 'sums':
        this.sums = units.map((u) => ({ sum: new Float64Array(u), rows: 0 }));
        break;
      case 'region':
        this.region = { stim: [], roi: [], control: spec.control ? [] : null, roiUnits: regionOf(spec.roi), controlUnits: spec.control ? regionOf(spec.control) : null };
        break;
      case 'topk':
        this.topk = new TopStimuliFold(regionOf(spec.region), spec.options);
        break;
      case 'behaviour':
        break;
    }
  }

  /**
   * Steps `addStep` folds a batch in: one per pooled layer for the per-layer kinds (moments, rows,
   * sums), so that a caller can yield between layers; one for the others.
   */
  steps(out: BatchOut): number {
    return this.moments || this.rows || this.sums ? out.layers!.length : 1;
  }

  /** Folds a whole batch. */
  add(batch: Batch, out: BatchOut): void {
    for (let i = 0, n = this.steps(out); i < n; i++) this.addStep(batch, out, i);
  }

  /** Folds step `step` of a batch (steps(out) of them, each once, in any order). */
  addStep(batch: Batch, out: BatchOut, step: number): void {
    if (this.spec.kind === 'behaviour') return this.addBehaviour(batch, out.results!);
    const pooled = out.layers!;
    if (this.topk) return this.topk.add(batch, pooled);
    if (this.region) {
      const g = this.region;
      const byKey = new Map(pooled.map((p) => [p.key, p]));
      for (let r = 0; r < batch.end - batch.start; r++) {
        g.stim.push(stimulusOf(batch, r));
        g.roi.push(regionMean(g.roiUnits, byKey, r));
        if (g.control) g.control.push(regionMean(g.controlUnits!, byKey, r));
      }
      return;
    }
    const li = step;
    const pl = pooled[li];
    const units = pl.units;
    const stim = rowStimuli(batch, pl);
    if (this.moments) {
      // Rows of one set come in runs: fold each run at once.
      const m = this.moments[li];
      let r = 0;
      while (r < pl.rows) {
        const si = this.setOf(stim[r]);
        let e = r + 1;
        while (e < pl.rows && this.setOf(stim[e]) === si) e++;
        m[si].pushRows(pl.data.subarray(r * units, e * units), e - r);
        r = e;
      }
    }
    if (this.sums) {
      const acc = this.sums[li];
      for (let row = 0; row < pl.rows; row++) for (let u = 0; u < units; u++) acc.sum[u] += pl.data[row * units + u];
      acc.rows += pl.rows;
    }
    this.rows?.[li].add(pl.data, stim, pl.token);
  }

  private addBehaviour(batch: Batch, results: Record<string, Float64Array>[]): void {
    const { start, end } = this.range;
    const n = end - start;
    this.values ??= {};
    results.forEach((res, ci) => {
      for (const [k, v] of Object.entries(res)) {
        this.values![k] ??= new Float64Array(results.length * n).fill(NaN);
        this.values![k].set(v, ci * n + (batch.start - start));
      }
    });
  }

  finish(): Partial {
    const s = this.spec;
    switch (s.kind) {
      case 'moments':
        return { kind: 'moments', moments: this.moments!, rows: this.rows ? this.rows.map((r) => r.take()) : null };
      case 'rows':
        return { kind: 'rows', rows: this.rows!.map((r) => r.take()) };
      case 'sums':
        return { kind: 'sums', sums: this.sums! };
      case 'region': {
        const g = this.region!;
        return { kind: 'region', stim: Int32Array.from(g.stim), roi: Float64Array.from(g.roi), control: g.control ? Float64Array.from(g.control) : null };
      }
      case 'topk':
        return { kind: 'topk', fold: this.topk! };
      case 'behaviour':
        return { kind: 'behaviour', start: this.range.start, n: this.range.end - this.range.start, values: this.values ?? {} };
    }
  }
}

// ---- wire format: 'TPS1', u32 header length, JSON header, then 8-byte aligned typed arrays ----

type Arr = Float64Array | Float32Array | Int32Array;
const DTYPES = { f64: Float64Array, f32: Float32Array, i32: Int32Array } as const;
type Dtype = keyof typeof DTYPES;
const dtypeOf = (a: Arr): Dtype => (a instanceof Float64Array ? 'f64' : a instanceof Float32Array ? 'f32' : 'i32');
const MAGIC = 'TPS1';
const pad8 = (n: number) => (n + 7) & ~7;

function pack(kind: string, meta: unknown, arrays: Arr[]): Buffer {
  const header = Buffer.from(JSON.stringify({ kind, meta, arrays: arrays.map((a) => ({ dtype: dtypeOf(a), length: a.length })) }));
  let size = pad8(8 + header.length);
  for (const a of arrays) size += pad8(a.byteLength);
  const out = Buffer.alloc(size);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(header.length, 4);
  header.copy(out, 8);
  let o = pad8(8 + header.length);
  for (const a of arrays) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), o);
    o += pad8(a.byteLength);
  }
  return out;
}

function unpack(buf: Uint8Array): { kind: string; meta: unknown; arrays: Arr[] } {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 8 || b.toString('latin1', 0, 4) !== MAGIC) throw new Error('not a shard partial (bad magic)');
  const hl = b.readUInt32LE(4);
  if (8 + hl > b.length) throw new Error('shard partial: truncated header');
  const header = JSON.parse(b.toString('utf8', 8, 8 + hl)) as { kind: string; meta: unknown; arrays: { dtype: Dtype; length: number }[] };
  let o = pad8(8 + hl);
  const arrays = header.arrays.map(({ dtype, length }) => {
    const C = DTYPES[dtype];
    if (!C) throw new Error(`shard partial: unknown dtype '${dtype}'`);
    const bytes = length * C.BYTES_PER_ELEMENT;
    if (o + bytes > b.length) throw new Error('shard partial: truncated data');
    const copy = new ArrayBuffer(bytes);
    new Uint8Array(copy).set(b.subarray(o, o + bytes));
    o += pad8(bytes);
    return new C(copy);
  });
  return { kind: header.kind, meta: header.meta, arrays };
}

function rowsArrays(rows: LayerRows[]): { meta: { units: number; rows: number }[]; arrays: Arr[] } {
  return { meta: rows.map((r) => ({ units: r.units, rows: r.rows })), arrays: rows.flatMap((r) => [r.data, r.stim, r.token]) };
}

function rowsFrom(meta: { units: number; rows: number }[], arrays: Arr[], at: number): LayerRows[] {
  return meta.map((m, i) => ({ units: m.units, rows: m.rows, data: arrays[at + 3 * i] as Float32Array, stim: arrays[at + 3 * i + 1] as Int32Array, token: arrays[at + 3 * i + 2] as Int32Array }));
}

/** A partial as bytes (lossless: Float64 stays Float64). */
export function encodePartial(p: Partial): Buffer {
  switch (p.kind) {
    case 'moments': {
      const n = p.moments.map((sets) => sets.map((m) => m.n));
      const arrays: Arr[] = p.moments.flatMap((sets) => sets.flatMap((m) => [m.mean, m.meanLo, m.m2]));
      const rows = p.rows ? rowsArrays(p.rows) : null;
      return pack('moments', { n, rows: rows?.meta ?? null }, rows ? [...arrays, ...rows.arrays] : arrays);
    }
    case 'rows': {
      const r = rowsArrays(p.rows);
      return pack('rows', { rows: r.meta }, r.arrays);
    }
    case 'sums':
      return pack('sums', { rows: p.sums.map((s) => s.rows) }, p.sums.map((s) => s.sum));
    case 'region':
      return pack('region', { control: p.control !== null }, p.control ? [p.stim, p.roi, p.control] : [p.stim, p.roi]);
    case 'topk': {
      const s = p.fold.state();
      const h = s.hist;
      const heap = (x: TopKHeaps) => [x.score, x.index, x.size];
      return pack('topk', { sum: s.sum, bottom: s.bottom !== null, hist: { e: h.e, o: h.o, n: h.n, nonFinite: h.nonFinite, min: h.min, max: h.max } }, [
        ...heap(s.top),
        ...(s.bottom ? heap(s.bottom) : []),
        h.counts,
        h.rKey,
        h.rIdx,
        h.rVal,
        h.rN,
      ]);
    }
    case 'behaviour': {
      const names = Object.keys(p.values);
      return pack('behaviour', { start: p.start, n: p.n, names }, names.map((k) => p.values[k]));
    }
  }
}

/** Bytes back to a partial of the pass described by `spec` (checked against it). */
export function decodePartial(buf: Uint8Array, spec: FoldSpec): Partial {
  const { kind, meta, arrays } = unpack(buf);
  if (kind !== spec.kind) throw new Error(`shard partial of kind '${kind}' for a '${spec.kind}' pass`);
  switch (spec.kind) {
    case 'moments': {
      const m = meta as { n: number[][]; rows: { units: number; rows: number }[] | null };
      let a = 0;
      const moments = m.n.map((sets) =>
        sets.map((n) => {
          const mm = Moments.fromBuffers(n, arrays[a] as Float64Array, arrays[a + 2] as Float64Array, arrays[a + 1] as Float64Array);
          a += 3;
          return mm;
        }),
      );
      return { kind: 'moments', moments, rows: m.rows ? rowsFrom(m.rows, arrays, a) : null };
    }
    case 'rows':
      return { kind: 'rows', rows: rowsFrom((meta as { rows: { units: number; rows: number }[] }).rows, arrays, 0) };
    case 'sums':
      return { kind: 'sums', sums: (meta as { rows: number[] }).rows.map((rows, i) => ({ sum: arrays[i] as Float64Array, rows })) };
    case 'region':
      return { kind: 'region', stim: arrays[0] as Int32Array, roi: arrays[1] as Float64Array, control: (meta as { control: boolean }).control ? (arrays[2] as Float64Array) : null };
    case 'topk': {
      const m = meta as { sum: number; bottom: boolean; hist: { e: number; o: number; n: number; nonFinite: number; min: number; max: number } };
      const o = spec.options;
      const heap = (at: number, k: number, dir: 'top' | 'bottom') => TopKHeaps.fromArrays(k, dir, { score: arrays[at] as Float64Array, index: arrays[at + 1] as Int32Array, size: arrays[at + 2] as Int32Array });
      const top = heap(0, o.k, 'top');
      const bottom = m.bottom ? heap(3, o.bottomK, 'bottom') : null;
      const h = m.bottom ? 6 : 3;
      const hist = { ...m.hist, counts: arrays[h] as Float64Array, rKey: arrays[h + 1] as Float64Array, rIdx: arrays[h + 2] as Int32Array, rVal: arrays[h + 3] as Float64Array, rN: arrays[h + 4] as Int32Array };
      return { kind: 'topk', fold: TopStimuliFold.fromState(regionOf(spec.region), o, { top, bottom, hist, sum: m.sum }) };
    }
    case 'behaviour': {
      const m = meta as { start: number; n: number; names: string[] };
      return { kind: 'behaviour', start: m.start, n: m.n, values: Object.fromEntries(m.names.map((k, i) => [k, arrays[i] as Float64Array])) };
    }
  }
}
