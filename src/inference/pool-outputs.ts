/**
 * A pool call's outputs, as ONNX Runtime returned them, into the pooled rows that leave a session:
 * each layer pooled (or the graph's pooled rows taken as they are) and checked to be finite. Runs on
 * the session's thread, or, in a session process, on its main thread while the next batch runs
 * (native-child-entry.ts); it needs no ONNX Runtime.
 */
import type { Pooling } from '../domain/manifest.ts';
import { poolTensor, type PooledRows } from './pooling.ts';
import type { PooledLayerOut, RawAnswer, SessionAnswer, SessionCall } from './worker-protocol.ts';

export type PoolCall = Extract<SessionCall, { kind: 'pool' }>;

/** A typed array that owns its whole buffer (a copy when ONNX Runtime's is a view into a larger one), so the buffer can be transferred. */
export function owned(data: Float32Array): Float32Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
}

/** A fetched tensor as float32 values (a view into ONNX Runtime's output, or a raw answer's buffer). */
export interface FetchedTensor {
  tensor: string;
  dims: number[];
  data: Float32Array;
}

/** A raw answer's tensors as typed arrays. */
export function fetchedOf(raw: RawAnswer): FetchedTensor[] {
  return raw.tensors.map((t) => ({ tensor: t.tensor, dims: t.dims, data: new Float32Array(t.data) }));
}

/**
 * Pools each requested layer of a pool call's outputs (or takes the graph's pooled rows) and checks
 * that every value is finite. Runs on the session's thread, or where a session thread's raw answer
 * arrives (native-child-entry.ts).
 */
export function poolOutputs(c: PoolCall, fetched: FetchedTensor[], runMs: number): { answer: SessionAnswer; transfer: ArrayBuffer[] } {
  const lengths = c.lengths ? new Int32Array(c.lengths) : null;
  const byName = new Map(fetched.map((t) => [t.tensor, t]));
  const layers: PooledLayerOut[] = [];
  const transfer: ArrayBuffer[] = [];
  for (const l of c.layers) {
    const t = byName.get(l.tensor);
    if (!t) throw new Error(`the model did not return tensor '${l.tensor}'`);
    const pooled = l.pooled ? pooledRows(t.data, t.dims, l.tensor) : poolTensor({ data: t.data, dims: t.dims }, l.unitAxis, l.pooling as Pooling, lengths);
    checkFinite(pooled, l.key, l.tensor);
    const rows = pooled.data.buffer as ArrayBuffer;
    const sample = pooled.sample.buffer as ArrayBuffer;
    const token = pooled.token.buffer as ArrayBuffer;
    layers.push({ key: l.key, rows: pooled.rows, units: pooled.units, data: rows, sample, token, dims: t.dims });
    transfer.push(rows, sample, token);
  }
  return { answer: { kind: 'pool', layers, runMs }, transfer: [...new Set(transfer)] };
}

function checkFinite(pooled: PooledRows, key: string, tensor: string): void {
  const d = pooled.data;
  // The float64 sum of float32 values is finite exactly when every value is (NaN and ±Infinity carry
  // through, and float32 values cannot add up to an overflow at any length an array can have).
  let sum = 0;
  for (let i = 0; i < d.length; i++) sum += d[i];
  if (Number.isFinite(sum)) return;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (!Number.isFinite(v)) throw new Error(`layer '${key}' (tensor '${tensor}') produced a non-finite activation (${v}) for sample ${pooled.sample[Math.floor(i / pooled.units)]} of the batch`);
  }
}

/** A layer the graph pooled itself: [batch, units], one row per sample. */
function pooledRows(data: Float32Array, dims: readonly number[], name: string): PooledRows {
  if (dims.length !== 2) throw new Error(`pooled output '${name}' has shape [${dims.join(', ')}], expected [batch, units]`);
  const [B, U] = dims;
  const sample = new Int32Array(B);
  for (let b = 0; b < B; b++) sample[b] = b;
  return { data: owned(data), rows: B, units: U, sample, token: new Int32Array(B).fill(-1) };
}
