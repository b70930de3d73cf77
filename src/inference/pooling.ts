/**
 * Reducing a layer's activation tensor to one value per unit per sample.
 *
 * A tensor with batch axis 0 and unit axis `unitAxis` is viewed as [B, Po, U, Pi], where Po is the
 * product of the axes between batch and unit and Pi the product of the axes after the unit axis.
 * Images pool over all Po×Pi positions; text tensors are [B, T, U] (unitAxis 2) or [B, U, T]
 * (unitAxis 1) and pool over the real tokens only (`lengths[b]` of them, right-padded batches).
 */
import type { Pooling } from '../domain/manifest.ts';

export interface TensorView {
  data: Float32Array;
  dims: readonly number[];
}

export interface PooledRows {
  /** rows × units, row-major. */
  data: Float32Array;
  rows: number;
  units: number;
  /** For each row: the sample (batch index) it came from and the token index (−1 when pooled). */
  sample: Int32Array;
  token: Int32Array;
}

export class PoolingError extends Error {}

export function viewShape(dims: readonly number[], unitAxis: number): { B: number; Po: number; U: number; Pi: number } {
  if (unitAxis < 1 || unitAxis >= dims.length) {
    throw new PoolingError(`unit axis ${unitAxis} is out of range for a tensor of shape [${dims.join(', ')}]`);
  }
  let Po = 1;
  for (let i = 1; i < unitAxis; i++) Po *= dims[i];
  let Pi = 1;
  for (let i = unitAxis + 1; i < dims.length; i++) Pi *= dims[i];
  return { B: dims[0], Po, U: dims[unitAxis], Pi };
}

/**
 * Pools one layer. `lengths` (real tokens per sample) is required for text pooling (`last`,
 * `tokens`, and `mean`/`max` when the tensor has a token axis); for images pass null.
 */
export function poolTensor(t: TensorView, unitAxis: number, pooling: Pooling, lengths: Int32Array | null): PooledRows {
  const { B, Po, U, Pi } = viewShape(t.dims, unitAxis);
  const data = t.data;
  if (lengths === null) {
    if (pooling === 'last' || pooling === 'tokens') throw new PoolingError(`pooling '${pooling}' needs a text model`);
    const out = new Float32Array(B * U);
    const P = Po * Pi;
    const acc = new Float64Array(U);
    for (let b = 0; b < B; b++) {
      if (pooling === 'max') acc.fill(-Infinity);
      else acc.fill(0);
      for (let po = 0; po < Po; po++) {
        const base0 = (b * Po + po) * U * Pi;
        for (let u = 0; u < U; u++) {
          const base = base0 + u * Pi;
          if (pooling === 'max') {
            let m = acc[u];
            for (let pi = 0; pi < Pi; pi++) {
              const v = data[base + pi];
              if (v > m) m = v;
            }
            acc[u] = m;
          } else {
            let s = 0;
            for (let pi = 0; pi < Pi; pi++) s += data[base + pi];
            acc[u] += s;
          }
        }
      }
      const o = b * U;
      if (pooling === 'max') for (let u = 0; u < U; u++) out[o + u] = acc[u];
      else for (let u = 0; u < U; u++) out[o + u] = acc[u] / P;
    }
    const sample = new Int32Array(B);
    for (let b = 0; b < B; b++) sample[b] = b;
    return { data: out, rows: B, units: U, sample, token: new Int32Array(B).fill(-1) };
  }

  // Text: exactly one token axis, either before (Po = T, Pi = 1) or after (Po = 1, Pi = T) the units.
  let T: number;
  let tokenStride: number;
  let unitStride: number;
  if (t.dims.length !== 3) {
    throw new PoolingError(`a text layer must be a rank-3 tensor [batch, tokens, units] or [batch, units, tokens]; got [${t.dims.join(', ')}]`);
  }
  if (Pi === 1) {
    T = Po;
    tokenStride = U;
    unitStride = 1;
  } else {
    T = Pi;
    tokenStride = 1;
    unitStride = Pi;
  }
  if (lengths.length !== B) throw new PoolingError(`lengths has ${lengths.length} entries for a batch of ${B}`);
  let rows = 0;
  for (let b = 0; b < B; b++) {
    const len = lengths[b];
    if (len < 1 || len > T) throw new PoolingError(`sample ${b} has ${len} real tokens but the tensor has ${T} positions`);
    rows += pooling === 'tokens' ? len : 1;
  }
  const out = new Float32Array(rows * U);
  const sample = new Int32Array(rows);
  const token = new Int32Array(rows).fill(-1);
  const batchStride = T * U;
  let r = 0;
  for (let b = 0; b < B; b++) {
    const len = lengths[b];
    const bBase = b * batchStride;
    if (pooling === 'tokens') {
      for (let tk = 0; tk < len; tk++) {
        const o = (r + tk) * U;
        const base = bBase + tk * tokenStride;
        for (let u = 0; u < U; u++) out[o + u] = data[base + u * unitStride];
        sample[r + tk] = b;
        token[r + tk] = tk;
      }
      r += len;
      continue;
    }
    const o = r * U;
    if (pooling === 'last') {
      const base = bBase + (len - 1) * tokenStride;
      for (let u = 0; u < U; u++) out[o + u] = data[base + u * unitStride];
      token[r] = len - 1;
    } else if (pooling === 'max') {
      for (let u = 0; u < U; u++) {
        let m = -Infinity;
        const base = bBase + u * unitStride;
        for (let tk = 0; tk < len; tk++) {
          const v = data[base + tk * tokenStride];
          if (v > m) m = v;
        }
        out[o + u] = m;
      }
    } else {
      for (let u = 0; u < U; u++) {
        let s = 0;
        const base = bBase + u * unitStride;
        for (let tk = 0; tk < len; tk++) s += data[base + tk * tokenStride];
        out[o + u] = s / len;
      }
    }
    sample[r] = b;
    r++;
  }
  return { data: out, rows, units: U, sample, token };
}
