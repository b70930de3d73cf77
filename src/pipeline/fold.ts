/**
 * Stage 3, fold: the shards' partials (per-set streaming moments per layer, Welford, Float64) merged
 * in shard order (Chan et al.: exact), so a shard's partial is a sufficient statistic. Optionally the
 * rows are also kept: as one stimuli × units matrix per layer in memory (permutations, reliability)
 * and/or streamed to .npy files (kept activations), each row at its stimulus' place.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Moments } from '../stats/moments.ts';
import { NpyRows } from './npy-writer.ts';
import type { LayerRows, Partial } from './partials.ts';
import type { PlannedLayer } from './plan.ts';

/** The pooled stimuli × units matrix of one layer, with each row's set index. */
export interface RowMatrix {
  data: Float32Array;
  rows: number;
  sets: Int32Array;
}

/**
 * Where each stimulus' rows go in a layer's stimulus-ordered outputs: one row per stimulus, or, for
 * `tokens` pooling, one per real token (prefix sums of the token counts).
 */
function rowOffsets(layer: PlannedLayer, n: number, tokenCounts: Int32Array | null): Int32Array | null {
  if (layer.pooling !== 'tokens') return null;
  if (!tokenCounts) throw new Error(`layer '${layer.name}': 'tokens' pooling needs the texts' token counts`);
  const o = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) o[i + 1] = o[i] + tokenCounts[i];
  return o;
}

export class Fold {
  /** [layer][set] moments. */
  readonly moments: Moments[][];
  private matrices: RowMatrix[] | null;
  private writers: { data: NpyRows; index: NpyRows }[] | null = null;
  /** Per layer: first row of each stimulus (tokens pooling), or null for one row per stimulus. */
  private readonly offsets: (Int32Array | null)[];

  /**
   * `tokenCounts[i]`: real tokens of text stimulus i (needed when a layer pools 'tokens'). Rows are
   * placed at their stimulus' position, so the kept matrix and the .npy files are in stimulus order
   * whatever the batch order.
   */
  constructor(
    readonly layers: PlannedLayer[],
    private readonly stimuli: ArrayLike<{ setIndex: number }>,
    nSets: number,
    opts: { keepMatrix: boolean; activationsDir?: string; tokenCounts?: Int32Array | null },
  ) {
    const n = stimuli.length;
    this.moments = layers.map((l) => Array.from({ length: nSets }, () => new Moments(l.units)));
    this.offsets = layers.map((l) => (opts.keepMatrix || opts.activationsDir ? rowOffsets(l, n, opts.tokenCounts ?? null) : null));
    const rowsOf = (li: number) => this.offsets[li]?.[n] ?? n;
    this.matrices = opts.keepMatrix
      ? layers.map((l, li) => ({ data: new Float32Array(rowsOf(li) * l.units), sets: new Int32Array(rowsOf(li)), rows: rowsOf(li) }))
      : null;
    if (opts.activationsDir) {
      fs.mkdirSync(opts.activationsDir, { recursive: true });
      this.writers = layers.map((l, li) => ({
        data: new NpyRows(path.join(opts.activationsDir!, `${l.name}.npy`), '<f4', l.units, rowsOf(li)),
        index: new NpyRows(path.join(opts.activationsDir!, `${l.name}.rows.npy`), '<i4', 2, rowsOf(li)),
      }));
    }
  }

  /**
   * Merges one shard's partial (shards in order: the merge is exact, and a fixed order makes the result
   * independent of where each shard ran), and places its rows, if any, at their stimulus' position.
   */
  mergeShard(p: Partial): void {
    if (p.kind !== 'moments' && p.kind !== 'rows') throw new Error(`Fold: cannot merge a '${p.kind}' partial`);
    if (p.kind === 'moments') {
      p.moments.forEach((sets, li) => sets.forEach((m, si) => this.moments[li][si].merge(m)));
    }
    p.rows?.forEach((r, li) => this.place(li, r));
  }

  private place(li: number, r: LayerRows): void {
    if (!this.matrices && !this.writers) return;
    const { units, stim, token, data } = r;
    const stimuli = this.stimuli;
    const off = this.offsets[li];
    const dest = (i: number) => (off ? off[stim[i]] + token[i] : stim[i]);
    const m = this.matrices?.[li];
    const w = this.writers?.[li];
    if (m) {
      for (let i = 0; i < r.rows; i++) {
        const d = dest(i);
        m.data.set(data.subarray(i * units, (i + 1) * units), d * units);
        m.sets[d] = stimuli[stim[i]].setIndex;
      }
    }
    if (w) {
      const idx = new Int32Array(r.rows * 2);
      for (let i = 0; i < r.rows; i++) {
        idx[2 * i] = stim[i];
        idx[2 * i + 1] = token[i];
      }
      // Write runs of rows whose destinations are consecutive at once (all of them, in stimulus order).
      let a = 0;
      while (a < r.rows) {
        let e = a + 1;
        while (e < r.rows && dest(e) === dest(a) + (e - a)) e++;
        w.data.writeAt(dest(a), data, a, e - a);
        w.index.writeAt(dest(a), idx, a, e - a);
        a = e;
      }
    }
  }

  /** Moments of the union of the given sets for one layer (merged in the order given). */
  merged(layer: number, sets: number[]): Moments {
    const m = new Moments(this.layers[layer].units);
    for (const i of sets) m.merge(this.moments[layer][i]);
    return m;
  }

  /** The kept rows of each layer as one matrix, in stimulus order (handed over once). */
  takeMatrices(): RowMatrix[] | null {
    const out = this.matrices;
    this.matrices = null;
    return out;
  }

  /** Closes the .npy files; per layer the files and the row count. */
  closeActivations(): ({ path: string; rowIndexPath: string; rows: number } | null)[] {
    if (!this.writers) return this.layers.map(() => null);
    const out = this.writers.map((w) => {
      const { rows } = w.data.close();
      w.index.close();
      return { path: w.data.file, rowIndexPath: w.index.file, rows };
    });
    this.writers = null;
    return out;
  }

  /** Removes partly written .npy files (failure or cancel). */
  abort(): void {
    if (this.writers) for (const w of this.writers) (w.data.abort(), w.index.abort());
    this.writers = null;
  }
}
