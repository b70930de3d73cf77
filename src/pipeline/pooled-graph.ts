/**
 * Pooling in the graph for a pass (see onnx/pooling.ts): the copy of the pass' model that pools its
 * mean/max layers itself, written once beside the model and reused by every pass that pools the same
 * layers the same way. A run of the copy returns B×U numbers per such layer instead of the whole
 * activation tensor (for a GPT-2-sized model's 12 MLP layers, 12 × B×T×3072 floats per batch), which
 * spares the session copying the tensors out and pooling them in JavaScript.
 *
 * Layers pooled as `last` or `tokens`, and layers without positions, are fetched whole as before.
 * An image model's copy is also fed the batch's 8-bit pixels and normalises them itself (a quarter
 * of the bytes to send, no float conversion here), unless its image input does not allow that.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { moduleUrl, startWorker } from '../inference/threads.ts';
import type { Modality } from '../domain/records.ts';
import type { ImageInput } from '../domain/manifest.ts';
import { channelNorm, type PixelSpec, type PooledSpec } from '../domain/pooling.ts';
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
  /** The copy takes the images as 8-bit pixels (`PIXELS_INPUT`, N×H×W×C) instead of the float32 input. */
  pixels: boolean;
}

/**
 * A graph file bigger than this holds its weights inline (a model registered before weights moved to
 * `exposed.onnx.data`, or a lesion copy): a copy would duplicate them, so such passes pool in JavaScript.
 */
export const POOLED_COPY_MAX_BYTES = 64 << 20;

/** Bumped when the edit changes: older copies are then never picked up. */
const EDIT_VERSION = 3;

function specOf(l: PoolableLayer, modality: Modality): PooledSpec | null {
  if (l.pooling !== 'mean' && l.pooling !== 'max') return null;
  if (modality === 'text' ? l.rank !== 3 : l.rank < 3) return null;
  if (!(l.unitAxis >= 1 && l.unitAxis < l.rank)) return null;
  return { tensor: l.tensor, unitAxis: l.unitAxis, rank: l.rank, pooling: l.pooling };
}

/** How an image model's copy is fed pixels: its input, size and normalisation. */
function pixelSpecOf(image: ImageInput): PixelSpec {
  return { input: image.name, height: image.size[0], width: image.size[1], channels: image.channels, ...channelNorm(image) };
}

/**
 * The pooled copy of `onnxPath` for these layers, built now if no pass built it before; null when no
 * layer can be pooled in the graph, the file is too big to copy, or the graph cannot take the edit.
 * `image`: the model's image input, for a copy fed 8-bit pixels.
 */
export async function pooledGraphFor(onnxPath: string, layers: PoolableLayer[], modality: Modality, image: ImageInput | null = null): Promise<PooledGraph | null> {
  const pooled = layers.map((l) => ({ l, spec: specOf(l, modality) })).filter((x) => x.spec !== null);
  if (pooled.length === 0) return null;
  const st = await fs.promises.stat(onnxPath);
  if (st.size > POOLED_COPY_MAX_BYTES) return null;
  const specs = pooled.map((x) => x.spec!).sort((a, b) => (a.tensor + a.pooling < b.tensor + b.pooling ? -1 : 1));
  const px = modality === 'image' && image ? pixelSpecOf(image) : null;
  const key = crypto
    .createHash('sha256')
    .update(JSON.stringify({ v: EDIT_VERSION, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, modality, specs, pixels: px }))
    .digest('hex')
    .slice(0, 16);
  // Beside the model: the copy names the model's external data files by relative path. A copy fed
  // pixels is named so: one whose graph refused that (and pools only) keeps the plain name.
  const stem = path.join(path.dirname(onnxPath), `${path.basename(onnxPath, '.onnx')}.pool-${key}`);
  const found = (pixels: boolean): PooledGraph => ({ path: `${stem}${pixels ? '.px' : ''}.onnx`, layers: new Set(pooled.map((x) => x.l.name)), mask: modality === 'text', pixels });
  if (px && fs.existsSync(found(true).path)) return found(true);
  if (fs.existsSync(found(false).path)) return found(false);
  let edit: { bytes: Uint8Array; pixels: boolean };
  try {
    edit = await editOnThread({ file: onnxPath, specs, text: modality === 'text', pixels: px });
  } catch (e) {
    if (e instanceof PoolingEditError) return null;
    throw e;
  }
  const result = found(edit.pixels);
  const file = result.path;
  const bytes = edit.bytes;
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

type EditRequest = { file: string; specs: PooledSpec[]; text: boolean; pixels: PixelSpec | null };
type EditResponse = { ok: true; bytes: Uint8Array; pixels: boolean } | { ok: false; message: string; refused: boolean };

/**
 * The file read and `addPooledOutputs` run on a thread of their own: parsing and rewriting the graph
 * (~0.1 s for a GPT-2-sized model, once per model and layer set) would otherwise hold the server's
 * event loop.
 */
function editOnThread(req: EditRequest): Promise<{ bytes: Uint8Array; pixels: boolean }> {
  return new Promise((resolve, reject) => {
    const w = startWorker(ENTRY, { workerData: req });
    let done = false;
    w.once('message', (m: EditResponse) => {
      done = true;
      if (m.ok) resolve({ bytes: m.bytes, pixels: m.pixels });
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
  const { file, specs, text, pixels } = workerData as EditRequest;
  let answer: EditResponse;
  try {
    const model = fs.readFileSync(file);
    // A graph that cannot be fed pixels (another input type or layout) is still pooled.
    let bytes: Uint8Array | null = null;
    if (pixels) {
      try {
        bytes = addPooledOutputs(model, specs, text, pixels);
      } catch (e) {
        if (!(e instanceof PoolingEditError)) throw e;
      }
    }
    answer = bytes ? { ok: true, bytes, pixels: true } : { ok: true, bytes: addPooledOutputs(model, specs, text), pixels: false };
  } catch (e) {
    answer = { ok: false, message: (e as Error)?.message ?? String(e), refused: e instanceof PoolingEditError };
  }
  // Transferred when the result owns its whole buffer (a small one may sit in Node's shared pool).
  const own = answer.ok && answer.bytes.byteOffset === 0 && answer.bytes.byteLength === answer.bytes.buffer.byteLength;
  parentPort.postMessage(answer, own && answer.ok ? [answer.bytes.buffer as ArrayBuffer] : []);
}
