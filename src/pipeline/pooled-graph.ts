/**
 * Pooling in the graph for a pass (see onnx/pooling.ts): the copy of the pass' model that pools its
 * mean/max layers itself, written once beside the model and reused by every pass that pools the same
 * layers the same way. A run of the copy returns B×U numbers per such layer instead of the whole
 * activation tensor (for a GPT-2-sized model's 12 MLP layers, 12 × B×T×3072 floats per batch), which
 * spares the session copying the tensors out and pooling them in JavaScript.
 *
 * Layers pooled as `last` or `tokens`, and layers without positions, are fetched whole as before.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Modality } from '../domain/records.ts';
import type { PooledSpec } from '../domain/pooling.ts';
import { addPooledOutputs, PoolingEditError } from '../onnx/pooling.ts';

/** A layer as a pass pools it (its rank from the registration probe). */
export interface PoolableLayer {
  name: string;
  tensor: string;
  unitAxis: number;
  pooling: string;
  rank: number;
}

export interface PooledGraph {
  /** The copy to run. */
  path: string;
  /** Layers (by name) whose pooled output the copy computes. */
  layers: Set<string>;
  /** The copy has the token mask input (text). */
  mask: boolean;
}

/**
 * A graph file bigger than this holds its weights inline (a model registered before weights moved to
 * `exposed.onnx.data`, or a lesion copy): a copy would duplicate them, so such passes pool in JavaScript.
 */
export const POOLED_COPY_MAX_BYTES = 64 << 20;

/** Bumped when the edit changes: older copies are then never picked up. */
const EDIT_VERSION = 2;

function specOf(l: PoolableLayer, modality: Modality): PooledSpec | null {
  if (l.pooling !== 'mean' && l.pooling !== 'max') return null;
  if (modality === 'text' ? l.rank !== 3 : l.rank < 3) return null;
  if (!(l.unitAxis >= 1 && l.unitAxis < l.rank)) return null;
  return { tensor: l.tensor, unitAxis: l.unitAxis, rank: l.rank, pooling: l.pooling };
}

/**
 * The pooled copy of `onnxPath` for these layers, built now if no pass built it before; null when no
 * layer can be pooled in the graph, the file is too big to copy, or the graph cannot take the edit.
 */
export async function pooledGraphFor(onnxPath: string, layers: PoolableLayer[], modality: Modality): Promise<PooledGraph | null> {
  const pooled = layers.map((l) => ({ l, spec: specOf(l, modality) })).filter((x) => x.spec !== null);
  if (pooled.length === 0) return null;
  const st = await fs.promises.stat(onnxPath);
  if (st.size > POOLED_COPY_MAX_BYTES) return null;
  const specs = pooled.map((x) => x.spec!).sort((a, b) => (a.tensor + a.pooling < b.tensor + b.pooling ? -1 : 1));
  const key = crypto
    .createHash('sha256')
    .update(JSON.stringify({ v: EDIT_VERSION, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, modality, specs }))
    .digest('hex')
    .slice(0, 16);
  // Beside the model: the copy names the model's external data files by relative path.
  const file = path.join(path.dirname(onnxPath), `${path.basename(onnxPath, '.onnx')}.pool-${key}.onnx`);
  const result: PooledGraph = { path: file, layers: new Set(pooled.map((x) => x.l.name)), mask: modality === 'text' };
  if (fs.existsSync(file)) return result;
  let bytes: Uint8Array;
  try {
    bytes = addPooledOutputs(await fs.promises.readFile(onnxPath), specs, modality === 'text');
  } catch (e) {
    if (e instanceof PoolingEditError) return null;
    throw e;
  }
  // Written whole, then renamed: a concurrent pass finds either no copy or a complete one. A copy that
  // cannot be written (a full disk) leaves the pass on the model itself.
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  try {
    await fs.promises.writeFile(tmp, bytes);
    await fs.promises.rename(tmp, file);
  } catch {
    await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
    return null;
  }
  return result;
}
