/**
 * Activations straight from onnxruntime-node, one stimulus at a time (no batching, no padding),
 * pooled by loops written here: the ground truth the service's numbers are checked against.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { exposeTensors } from '../../src/onnx/model.ts';
import type { Manifest } from '../../src/domain/manifest.ts';
import { encodeImages } from '../../src/inference/encode.ts';
import { TextEncoder as TextIds } from '../../src/inference/encode-text.ts';

export function readManifest(modelDir: string): Manifest {
  return JSON.parse(fs.readFileSync(path.join(modelDir, 'manifest.json'), 'utf8')) as Manifest;
}

export async function directSession(modelDir: string, tensors: string[]): Promise<ort.InferenceSession> {
  const bytes = exposeTensors(fs.readFileSync(path.join(modelDir, 'model.onnx')), tensors);
  return ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
}

/** Per image: the layer tensor's mean (or max, as the manifest says) over every position except batch and unit axes. */
export async function directImageActivations(modelDir: string, layer: string, files: string[]): Promise<Float64Array[]> {
  const m = readManifest(modelDir);
  const l = m.layers.find((x) => x.name === layer)!;
  const session = await directSession(modelDir, [l.tensor]);
  const rows: Float64Array[] = [];
  try {
    for (const f of files) {
      const feed = await encodeImages([fs.readFileSync(f)], m.input.image!);
      const out = await session.run({ [m.input.image!.name]: new ort.Tensor('float32', new Float32Array(feed.data), feed.dims) }, [l.tensor]);
      const t = out[l.tensor];
      const dims = t.dims;
      const data = t.data as Float32Array;
      const U = dims[l.unitAxis];
      let outer = 1;
      for (let i = 1; i < l.unitAxis; i++) outer *= dims[i];
      let inner = 1;
      for (let i = l.unitAxis + 1; i < dims.length; i++) inner *= dims[i];
      const row = new Float64Array(U).fill(l.pooling === 'max' ? -Infinity : 0);
      for (let o = 0; o < outer; o++)
        for (let u = 0; u < U; u++)
          for (let i = 0; i < inner; i++) {
            const v = data[(o * U + u) * inner + i];
            row[u] = l.pooling === 'max' ? Math.max(row[u], v) : row[u] + v;
          }
      if (l.pooling !== 'max') for (let u = 0; u < U; u++) row[u] /= outer * inner;
      rows.push(row);
    }
  } finally {
    await session.release();
  }
  return rows;
}

/** Per text, run alone (no padding at all): the layer's mean over its tokens, or the last token. */
export async function directTextActivations(modelDir: string, layer: string, texts: string[], pooling: 'mean' | 'last' = 'mean'): Promise<Float64Array[]> {
  const m = readManifest(modelDir);
  const l = m.layers.find((x) => x.name === layer)!;
  const session = await directSession(modelDir, [l.tensor]);
  const enc = new TextIds(m.input.text!, modelDir);
  const rows: Float64Array[] = [];
  try {
    for (const text of texts) {
      const ids = enc.ids(text).ids;
      const feeds: Record<string, ort.Tensor> = {
        [m.input.text!.idsInput]: new ort.Tensor('int64', BigInt64Array.from(ids.map((i) => BigInt(i))), [1, ids.length]),
      };
      if (m.input.text!.maskInput) feeds[m.input.text!.maskInput] = new ort.Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]);
      const out = await session.run(feeds, [l.tensor]);
      const t = out[l.tensor];
      const data = t.data as Float32Array;
      const [, d1, d2] = t.dims;
      const tokenFirst = l.unitAxis === 2;
      const T = tokenFirst ? d1 : d2;
      const U = tokenFirst ? d2 : d1;
      const row = new Float64Array(U);
      const at = (tk: number, u: number) => (tokenFirst ? data[tk * U + u] : data[u * T + tk]);
      for (let u = 0; u < U; u++) {
        if (pooling === 'last') row[u] = at(T - 1, u);
        else {
          let s = 0;
          for (let tk = 0; tk < T; tk++) s += at(tk, u);
          row[u] = s / T;
        }
      }
      rows.push(row);
    }
  } finally {
    await session.release();
  }
  return rows;
}
