/**
 * Stage 3, fold: pooled rows → per-set streaming moments per layer (Welford, Float64). Folds of
 * disjoint stimulus ranges merge exactly (Chan et al.), so a shard's fold is a sufficient statistic.
 * Optionally the rows are also kept: as one stimuli × units matrix per layer in memory (permutations,
 * reliability) and/or streamed to .npy files (kept activations).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { PooledLayer } from '../inference/pool.ts';
import { Moments } from '../stats/moments.ts';
import { NpyWriter } from './npy-writer.ts';
import type { Batch, PlannedLayer, Stimulus } from './plan.ts';

/** The pooled stimuli × units matrix of one layer, with each row's set index. */
export interface RowMatrix {
  data: Float32Array;
  rows: number;
  sets: Int32Array;
}

export class Fold {
  /** [layer][set] moments. */
  readonly moments: Moments[][];
  private chunks: { data: Float32Array[]; sets: Int32Array[]; rows: number }[] | null;
  private writers: { data: NpyWriter; index: NpyWriter }[] | null = null;

  constructor(
    readonly layers: PlannedLayer[],
    private readonly stimuli: Stimulus[],
    nSets: number,
    opts: { keepMatrix: boolean; activationsDir?: string },
  ) {
    this.moments = layers.map((l) => Array.from({ length: nSets }, () => new Moments(l.units)));
    this.chunks = opts.keepMatrix ? layers.map(() => ({ data: [], sets: [], rows: 0 })) : null;
    if (opts.activationsDir) {
      fs.mkdirSync(opts.activationsDir, { recursive: true });
      this.writers = layers.map((l) => ({
        data: new NpyWriter(path.join(opts.activationsDir!, `${l.name}.npy`), '<f4', l.units),
        index: new NpyWriter(path.join(opts.activationsDir!, `${l.name}.rows.npy`), '<i4', 2),
      }));
    }
  }

  /** Folds one batch's pooled layers (rows refer to stimuli batch.start + sample[r]). */
  add(batch: Batch, pooled: PooledLayer[]): void {
    const stimuli = this.stimuli;
    pooled.forEach((pl, li) => {
      const units = pl.units;
      // Rows of one set come in runs: fold each run at once.
      let r = 0;
      while (r < pl.rows) {
        const si = stimuli[batch.start + pl.sample[r]].setIndex;
        let e = r + 1;
        while (e < pl.rows && stimuli[batch.start + pl.sample[e]].setIndex === si) e++;
        this.moments[li][si].pushRows(pl.data.subarray(r * units, e * units), e - r);
        r = e;
      }
      if (this.chunks) {
        const sets = new Int32Array(pl.rows);
        for (let i = 0; i < pl.rows; i++) sets[i] = stimuli[batch.start + pl.sample[i]].setIndex;
        this.chunks[li].data.push(pl.data);
        this.chunks[li].sets.push(sets);
        this.chunks[li].rows += pl.rows;
      }
      if (this.writers) {
        this.writers[li].data.append(pl.data, pl.rows);
        const idx = new Int32Array(pl.rows * 2);
        for (let i = 0; i < pl.rows; i++) {
          idx[2 * i] = batch.start + pl.sample[i];
          idx[2 * i + 1] = pl.token[i];
        }
        this.writers[li].index.append(idx, pl.rows);
      }
    });
  }

  /** Moments of the union of the given sets for one layer (merged in the order given). */
  merged(layer: number, sets: number[]): Moments {
    const m = new Moments(this.layers[layer].units);
    for (const i of sets) m.merge(this.moments[layer][i]);
    return m;
  }

  /** The kept rows of each layer as one matrix (the chunks are released as they are copied). */
  takeMatrices(): RowMatrix[] | null {
    if (!this.chunks) return null;
    const out = this.chunks.map((c, li) => {
      const units = this.layers[li].units;
      const data = new Float32Array(c.rows * units);
      const sets = new Int32Array(c.rows);
      let off = 0;
      c.data.forEach((d, i) => {
        data.set(d, off * units);
        sets.set(c.sets[i], off);
        off += c.sets[i].length;
      });
      c.data.length = 0;
      return { data, sets, rows: c.rows };
    });
    this.chunks = null;
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
