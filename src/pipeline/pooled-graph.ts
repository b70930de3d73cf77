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
import { parentPort, workerData } from 'node:worker_threads';
import { moduleUrl, startWorker } from '../inference/threads.ts';
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
    bytes = await editOnThread(onnxPath, specs, modality === 'text');
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

const ENTRY = moduleUrl('./pooled-graph.ts', import.meta.url);

type EditRequest = { file: string; specs: PooledSpec[]; text: boolean };
type EditResponse = { ok: true; bytes: Uint8Array } | { ok: false; message: string; refused: boolean };

/**
 * The file read and `addPooledOutputs` run on a thread of their own: parsing and rewriting the graph
 * (~0.1 s for a GPT-2-sized model, once per model and layer set) would otherwise hold the server's
 * event loop.
 */
function editOnThread(file: string, specs: PooledSpec[], text: boolean): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const w = startWorker(ENTRY, { workerData: { file, specs, text } satisfies EditRequest });
    let done = false;
    w.once('message', (m: EditResponse) => {
      done = true;
      if (m.ok) resolve(m.bytes);
      else reject(m.refused ? new PoolingEditError(m.message) : new Error(m.message));
      void w.terminate();
    });
    w.once('error', (e) => {
      done = true;
      reject(e);
    });
    w.once('exit', (code) => {
      if (!done) reject(new Error(`the pooling edit thread exited with code ${code}`));
    });
  });
}

if (parentPort && (workerData as { entry?: string } | null)?.entry === ENTRY.href) {
  const { file, specs, text } = workerData as EditRequest;
  let answer: EditResponse;
  try {
    answer = { ok: true, bytes: addPooledOutputs(fs.readFileSync(file), specs, text) };
  } catch (e) {
    answer = { ok: false, message: (e as Error)?.message ?? String(e), refused: e instanceof PoolingEditError };
  }
  // Transferred when the result owns its whole buffer (a small one may sit in Node's shared pool).
  const own = answer.ok && answer.bytes.byteOffset === 0 && answer.bytes.byteLength === answer.bytes.buffer.byteLength;
  parentPort.postMessage(answer, own && answer.ok ? [answer.bytes.buffer as ArrayBuffer] : []);
}
