/**
 * Results of succeeded jobs: `layer_results` (per-unit statistics as typed-array blobs, columns from
 * the UNIT_STATS table), `layer_clusters`, `layer_arrays`, `job_stimuli` and `activations`.
 */
import type { DB } from './db.ts';
import { blob, fromBlob, nowIso } from './db.ts';
import type { AnalysisSummary, ClusterRow } from '../domain/analysis.ts';
import type { JobRecord, JobState, LayerExtras, LayerOutcome, LayerResult, LayerSummary } from '../domain/records.ts';
import { UNIT_STATS, type ArrayDtype } from '../domain/stats.ts';

export interface StoredStimulus {
  condition: 'a' | 'b';
  setId: string;
  sha256: string;
  label: string | null;
}

export interface StoredActivations {
  layer: string;
  rows: number;
  units: number;
  /** Relative to the data directory. */
  path: string;
  rowIndexPath: string;
}

function toBlob(a: Float64Array, dtype: ArrayDtype): Buffer {
  return dtype === 'f64' ? blob(a) : dtype === 'f32' ? blob(Float32Array.from(a)) : blob(Int32Array.from(a));
}

function fromBlobAs(b: Buffer, dtype: ArrayDtype): Float32Array | Float64Array | Int32Array {
  return fromBlob[dtype](b);
}

const STAT_COLUMNS = UNIT_STATS.map((s) => s.column);
const INSERT_LAYER = `INSERT INTO layer_results (job_id, layer, position, units, rows, cols, n_a, n_b, summary, cell_of_unit, analysis, ${STAT_COLUMNS.join(', ')})
  VALUES (@job, @layer, @position, @units, @rows, @cols, @nA, @nB, @summary, @cell, @analysis, ${STAT_COLUMNS.map((c) => '@' + c).join(', ')})`;

/** Stores every layer's result and marks the job succeeded, atomically; false if it was no longer running. */
export function storeSuccess(
  db: DB,
  id: string,
  layers: LayerOutcome[],
  stimuli: StoredStimulus[],
  activations: StoredActivations[],
  timings: Record<string, number>,
  truncation: JobRecord['truncation'] = null,
): boolean {
  const insLayer = db.prepare(INSERT_LAYER);
  const insCluster = db.prepare(
    `INSERT INTO layer_clusters (job_id, layer, cluster_id, sign, size, mass, peak_t, peak_unit, peak_row, peak_col, centroid_row, centroid_col, p_mass, p_size)
     VALUES (@job, @layer, @id, @sign, @size, @mass, @peakT, @peakUnit, @peakRow, @peakCol, @centroidRow, @centroidCol, @pMass, @pSize)`,
  );
  const insArray = db.prepare('INSERT INTO layer_arrays (job_id, layer, name, dtype, data) VALUES (?, ?, ?, ?, ?)');
  const insStim = db.prepare('INSERT INTO job_stimuli (job_id, idx, condition, set_id, item_sha256, label) VALUES (?, ?, ?, ?, ?, ?)');
  const insAct = db.prepare('INSERT INTO activations (job_id, layer, rows, units, path, row_index_path) VALUES (?, ?, ?, ?, ?, ?)');
  return db.transaction(() => {
    const cur = db.prepare('SELECT state FROM jobs WHERE id = ?').get(id) as { state: JobState } | undefined;
    if (!cur || cur.state !== 'running') return false;
    for (const t of ['layer_results', 'job_stimuli', 'activations', 'layer_clusters', 'layer_arrays']) db.prepare(`DELETE FROM ${t} WHERE job_id = ?`).run(id);
    layers.forEach((l, i) => {
      const row: Record<string, unknown> = {
        job: id,
        layer: l.name,
        position: i,
        units: l.units,
        rows: l.rows,
        cols: l.cols,
        nA: l.nA,
        nB: l.nB,
        summary: JSON.stringify(l.summary),
        cell: blob(l.cellOfUnit),
        analysis: JSON.stringify(l.analysis?.summary ?? {}),
      };
      for (const s of UNIT_STATS) row[s.column] = toBlob(l[s.field], s.dtype);
      insLayer.run(row);
    });
    for (const l of layers) {
      if (!l.analysis) continue;
      for (const c of l.analysis.clusters) insCluster.run({ job: id, layer: l.name, ...c });
      insArray.run(id, l.name, 'cluster_label', 'i32', blob(l.analysis.clusterLabels));
      if (l.analysis.pFWE) insArray.run(id, l.name, 'p_fwe', 'f64', blob(l.analysis.pFWE));
      if (l.analysis.tfce) insArray.run(id, l.name, 'tfce', 'f32', blob(Float32Array.from(l.analysis.tfce)));
    }
    stimuli.forEach((s, i) => insStim.run(id, i, s.condition, s.setId, s.sha256, s.label));
    for (const a of activations) insAct.run(id, a.layer, a.rows, a.units, a.path, a.rowIndexPath);
    db.prepare(`UPDATE jobs SET state = 'succeeded', finished_at = ?, timings = ?, truncation = ?, progress_done = progress_total, progress_stage = NULL, error = NULL WHERE id = ?`).run(
      nowIso(),
      JSON.stringify(timings),
      truncation ? JSON.stringify(truncation) : null,
      id,
    );
    return true;
  })();
}

export function layerSummaries(db: DB, jobId: string): { name: string; summary: LayerSummary }[] {
  const rows = db.prepare('SELECT layer, summary FROM layer_results WHERE job_id = ? ORDER BY position').all(jobId) as { layer: string; summary: string }[];
  return rows.map((r) => ({ name: r.layer, summary: JSON.parse(r.summary) as LayerSummary }));
}

export function getLayerResult(db: DB, jobId: string, layer: string): LayerResult | null {
  const r = db.prepare('SELECT * FROM layer_results WHERE job_id = ? AND layer = ?').get(jobId, layer) as Record<string, unknown> | undefined;
  if (!r) return null;
  const out = {
    name: r.layer as string,
    position: r.position as number,
    units: r.units as number,
    rows: r.rows as number,
    cols: r.cols as number,
    nA: r.n_a as number,
    nB: r.n_b as number,
    summary: JSON.parse(r.summary as string) as LayerSummary,
    cellOfUnit: fromBlob.i32(r.cell_of_unit as Buffer),
    analysis: JSON.parse(r.analysis as string) as AnalysisSummary,
  } as LayerResult;
  for (const s of UNIT_STATS) {
    const b = r[s.column] as Buffer | null;
    (out as Record<string, unknown>)[s.field] = b === null ? null : fromBlobAs(b, s.dtype);
  }
  // Results stored before log10 q was kept: derive it from q.
  if (!out.log10q) out.log10q = Float64Array.from(out.q, (q) => Math.log10(q));
  return out;
}

export function layerClusters(db: DB, jobId: string, layer: string): ClusterRow[] {
  return db
    .prepare(
      `SELECT cluster_id AS id, sign, size, mass, peak_t AS peakT, peak_unit AS peakUnit, peak_row AS peakRow, peak_col AS peakCol,
              centroid_row AS centroidRow, centroid_col AS centroidCol, p_mass AS pMass, p_size AS pSize
       FROM layer_clusters WHERE job_id = ? AND layer = ? ORDER BY cluster_id`,
    )
    .all(jobId, layer) as ClusterRow[];
}

/** Extra per-unit arrays of a layer (cluster_label, p_fwe, tfce), decoded. */
export function layerArrays(db: DB, jobId: string, layer: string): LayerExtras {
  const rows = db.prepare('SELECT name, dtype, data FROM layer_arrays WHERE job_id = ? AND layer = ?').all(jobId, layer) as { name: string; dtype: ArrayDtype; data: Buffer }[];
  const out: LayerExtras = {};
  for (const r of rows) out[r.name] = fromBlobAs(r.data, r.dtype);
  return out;
}

export function getActivations(db: DB, jobId: string, layer: string): StoredActivations | null {
  const r = db.prepare('SELECT layer, rows, units, path, row_index_path AS rowIndexPath FROM activations WHERE job_id = ? AND layer = ?').get(jobId, layer) as
    | StoredActivations
    | undefined;
  return r ?? null;
}

export function jobStimuli(db: DB, jobId: string): ({ idx: number } & StoredStimulus)[] {
  return db
    .prepare('SELECT idx, condition, set_id AS setId, item_sha256 AS sha256, label FROM job_stimuli WHERE job_id = ? ORDER BY idx')
    .all(jobId) as ({ idx: number } & StoredStimulus)[];
}
