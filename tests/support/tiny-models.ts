/**
 * Two tiny hand-made ONNX models (built with the project's graph builder) and their forward passes
 * written out in plain JS, Float64: the ground truth of the lesion tests.
 *
 * - tiny LM: ids [B, T] → e = E[ids] [B, T, 3] → h = Relu(e·W1 + b1) [B, T, 4] (the layer) → logits = h·W2 + b2 [B, T, 6].
 * - tiny classifier: x [N, 1, 2, 2] → Flatten → h = Relu(x·W1 + b1) [N, 3] (the layer) → logits = h·W2 + b2 [N, 4].
 */
import { OnnxGraphBuilder, int } from '../../src/onnx/build.ts';

export const LM = {
  V: 6,
  E: [0.5, -1, 0.25, 1, 0.5, -0.5, -0.75, 0.25, 1, 0.1, 0.2, 0.3, -0.4, 0.9, -0.2, 0.6, -0.6, 0.05],
  W1: [1, -0.5, 0.25, 0.8, -1, 0.6, 0.9, -0.3, 0.4, 0.7, -0.8, 1.1],
  b1: [0.1, 0.2, -0.1, 0.3],
  W2: [0.5, -0.2, 0.3, 1, -1, 0.2, 0.7, 0.4, -0.6, 0.1, 0.9, -0.3, -0.5, 0.8, 0.2, -0.9, 0.3, 0.6, 0.2, -0.7, 1.2, 0.4, -0.1, 0.5],
  b2: [0, 0.1, -0.2, 0.3, -0.1, 0.2],
};

export function tinyLm(opset = 17): Uint8Array {
  const g = new OnnxGraphBuilder({ name: 'tiny-lm', opset });
  g.input('input_ids', 'int64', ['batch', 'seq']);
  g.float32('E', [LM.V, 3], LM.E);
  g.float32('W1', [3, 4], LM.W1);
  g.float32('b1', [4], LM.b1);
  g.float32('W2', [4, LM.V], LM.W2);
  g.float32('b2', [LM.V], LM.b2);
  g.node('Gather', ['E', 'input_ids'], ['e'], { axis: int(0) });
  const z = g.op('Add', [g.op('MatMul', ['e', 'W1']), 'b1']);
  g.node('Relu', [z], ['h']);
  g.node('Add', [g.op('MatMul', ['h', 'W2']), 'b2'], ['logits']);
  g.output('logits', 'float32', ['batch', 'seq', LM.V]);
  return g.build();
}

/** Float64 forward pass of the tiny LM for one token id, with h → h·m + o. */
export function lmLogits(id: number, m: number[] = [1, 1, 1, 1], o: number[] = [0, 0, 0, 0]): number[] {
  const e = LM.E.slice(id * 3, id * 3 + 3);
  const h = [0, 1, 2, 3].map((j) => Math.max(0, LM.b1[j] + e[0] * LM.W1[j] + e[1] * LM.W1[4 + j] + e[2] * LM.W1[8 + j]) * m[j] + o[j]);
  return Array.from({ length: LM.V }, (_, k) => LM.b2[k] + h.reduce((s, hj, j) => s + hj * LM.W2[j * LM.V + k], 0));
}

export const CLS = {
  W1: [0.5, -1, 0.3, 1, 0.2, -0.4, -0.6, 0.8, 0.9, 0.1, -0.3, 0.7],
  b1: [0.05, -0.1, 0.2],
  W2: [1, -0.5, 0.2, 0.3, -0.7, 0.9, 0.4, -0.2, 0.3, 0.1, -0.8, 0.6],
  b2: [0.1, 0, -0.1, 0.05],
};

export function tinyClassifier(): Uint8Array {
  const g = new OnnxGraphBuilder({ name: 'tiny-classifier', opset: 17 });
  g.input('x', 'float32', ['N', 1, 2, 2]);
  g.float32('W1', [4, 3], CLS.W1);
  g.float32('b1', [3], CLS.b1);
  g.float32('W2', [3, 4], CLS.W2);
  g.float32('b2', [4], CLS.b2);
  const flat = g.op('Flatten', ['x'], { axis: int(1) });
  g.node('Relu', [g.op('Add', [g.op('MatMul', [flat, 'W1']), 'b1'])], ['h']);
  g.node('Add', [g.op('MatMul', ['h', 'W2']), 'b2'], ['logits']);
  g.output('logits', 'float32', ['N', 4]);
  return g.build();
}

/** Float64 forward pass of the tiny classifier for one input of 4 values, with h → h·m + o. */
export function clsLogits(x: number[], m: number[] = [1, 1, 1], o: number[] = [0, 0, 0]): number[] {
  const h = [0, 1, 2].map((j) => Math.max(0, CLS.b1[j] + x.reduce((s, xi, i) => s + xi * CLS.W1[i * 3 + j], 0)) * m[j] + o[j]);
  return [0, 1, 2, 3].map((k) => CLS.b2[k] + h.reduce((s, hj, j) => s + hj * CLS.W2[j * 4 + k], 0));
}

export function logSoftmax(z: number[]): number[] {
  const mx = Math.max(...z);
  const lse = mx + Math.log(z.reduce((s, v) => s + Math.exp(v - mx), 0));
  return z.map((v) => v - lse);
}
