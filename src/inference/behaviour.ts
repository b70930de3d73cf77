/**
 * Behaviour measures computed from a batch's logits, per stimulus, in the session worker (so only a
 * few numbers per stimulus cross threads). All sums are Float64; log-softmax uses the max-shifted
 * log-sum-exp.
 *
 * - Language model (logits B×T×V, right-padded batch, `lengths[b]` real tokens of stimulus b): the
 *   position t predicts token t + 1, for t = 0 … len − 2, so a text of len tokens has len − 1 targets
 *   and padding never enters. Per stimulus: ceSum = Σ −log p(target) and tokens = len − 1. Lesion
 *   copies score it in the graph (−log p per position, summed here); older copies return the logits.
 * - Classifier (logits B×C): per stimulus the top-1 class `pred` (lowest index on ties), `correct` (1/0
 *   against the label, NaN without one), `logp` = log p(label) (of the intact top class without a
 *   label), `agree` (1/0: pred equals the intact model's), and `kl` = KL(intact ‖ this) in nats.
 */

import * as ort from 'onnxruntime-node';

export class BehaviourError extends Error {}

/** log Σ exp(row), max-shifted (Float64). */
export function logSumExp(a: Float32Array, start: number, n: number): number {
  let m = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = a[start + i];
    if (v > m) m = v;
  }
  if (m === -Infinity || m === Infinity || m !== m) return m;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(a[start + i] - m);
  return m + Math.log(s);
}

export interface LmValues {
  ceSum: Float64Array;
  tokens: Float64Array;
}

/** Next-token cross-entropy sums per stimulus; `targets` are the batch's token ids, B×T row-major. */
export function lmValues(logits: Float32Array, dims: readonly number[], targets: Int32Array, lengths: Int32Array): LmValues {
  if (dims.length !== 3) throw new BehaviourError(`language-model logits must be [batch, tokens, vocabulary]; got [${dims.join(', ')}]`);
  const [B, T, V] = dims;
  if (lengths.length !== B) throw new BehaviourError(`lengths has ${lengths.length} entries for a batch of ${B}`);
  if (targets.length !== B * T) throw new BehaviourError(`the token ids are ${targets.length} for logits of ${B}×${T} positions`);
  const ceSum = new Float64Array(B);
  const tokens = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    const len = lengths[b];
    if (len < 1 || len > T) throw new BehaviourError(`stimulus ${b} has ${len} real tokens but the logits have ${T} positions`);
    let s = 0;
    for (let t = 0; t + 1 < len; t++) {
      const target = targets[b * T + t + 1];
      if (!(target >= 0 && target < V)) throw new BehaviourError(`token id ${target} is outside the vocabulary of ${V} logits`);
      const row = (b * T + t) * V;
      s += logSumExp(logits, row, V) - logits[row + target];
    }
    if (!Number.isFinite(s)) throw new BehaviourError(`the logits of stimulus ${b} are not finite`);
    ceSum[b] = s;
    tokens[b] = len - 1;
  }
  return { ceSum, tokens };
}

/**
 * The target feed of in-graph lm scoring: int64 B×T×1, position t holding token t + 1 of its text, 0
 * where there is none (the last real token and padding; those positions are not summed).
 */
export function nextTokenTargets(ids: Int32Array, lengths: Int32Array, vocab: number): ort.Tensor {
  const B = lengths.length;
  const T = ids.length / B;
  if (!Number.isInteger(T)) throw new BehaviourError(`the token ids are ${ids.length} for a batch of ${B}`);
  const out = new BigInt64Array(B * T);
  for (let b = 0; b < B; b++) {
    const len = lengths[b];
    if (len < 1 || len > T) throw new BehaviourError(`stimulus ${b} has ${len} real tokens in a batch of ${T} positions`);
    for (let t = 0; t + 1 < len; t++) {
      const target = ids[b * T + t + 1];
      if (!(target >= 0 && target < vocab)) throw new BehaviourError(`token id ${target} is outside the vocabulary of ${vocab} logits`);
      out[b * T + t] = BigInt(target);
    }
  }
  return new ort.Tensor('int64', out, [B, T, 1]);
}

/** Cross-entropy sums per stimulus from the in-graph nll (B×T×1, float32), over each text's len − 1 targets. */
export function nllValues(nll: Float32Array, dims: readonly number[], lengths: Int32Array): LmValues {
  const [B, T] = dims;
  if (dims.length !== 3 || B !== lengths.length || nll.length !== B * T) throw new BehaviourError(`the scored output has shape [${dims.join(', ')}] for a batch of ${lengths.length}`);
  const ceSum = new Float64Array(B);
  const tokens = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    const len = lengths[b];
    let s = 0;
    for (let t = 0; t + 1 < len; t++) s += nll[b * T + t];
    if (!Number.isFinite(s)) throw new BehaviourError(`the logits of stimulus ${b} are not finite`);
    ceSum[b] = s;
    tokens[b] = len - 1;
  }
  return { ceSum, tokens };
}

/** Log-softmax of every row of B×C logits (Float64) and each row's top-1 class. */
export function logSoftmaxRows(logits: Float32Array, B: number, C: number): { logp: Float64Array; pred: Int32Array } {
  const logp = new Float64Array(B * C);
  const pred = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const o = b * C;
    const lse = logSumExp(logits, o, C);
    if (!Number.isFinite(lse)) throw new BehaviourError(`the logits of stimulus ${b} are not finite`);
    let best = 0;
    for (let c = 0; c < C; c++) {
      logp[o + c] = logits[o + c] - lse;
      if (logits[o + c] > logits[o + best]) best = c;
    }
    pred[b] = best;
  }
  return { logp, pred };
}

export interface ClassifierValues {
  correct: Float64Array;
  logp: Float64Array;
  agree: Float64Array;
  kl: Float64Array;
  pred: Float64Array;
}

/**
 * Classifier measures of one configuration against the intact model's log-probabilities of the same
 * batch. `labels[b]` is the class index of stimulus b, or −1.
 */
export function classifierValues(
  logits: Float32Array,
  dims: readonly number[],
  labels: Int32Array,
  intact: { logp: Float64Array; pred: Int32Array } | null,
): { values: ClassifierValues; soft: { logp: Float64Array; pred: Int32Array } } {
  if (dims.length !== 2) throw new BehaviourError(`classifier logits must be [batch, classes]; got [${dims.join(', ')}]`);
  const [B, C] = dims;
  if (labels.length !== B) throw new BehaviourError(`labels has ${labels.length} entries for a batch of ${B}`);
  const soft = logSoftmaxRows(logits, B, C);
  const ref = intact ?? soft;
  const values: ClassifierValues = {
    correct: new Float64Array(B),
    logp: new Float64Array(B),
    agree: new Float64Array(B),
    kl: new Float64Array(B),
    pred: new Float64Array(B),
  };
  for (let b = 0; b < B; b++) {
    const o = b * C;
    const label = labels[b];
    if (label >= C) throw new BehaviourError(`label ${label} is outside the ${C} classes`);
    values.pred[b] = soft.pred[b];
    values.correct[b] = label >= 0 ? (soft.pred[b] === label ? 1 : 0) : NaN;
    values.logp[b] = soft.logp[o + (label >= 0 ? label : ref.pred[b])];
    values.agree[b] = soft.pred[b] === ref.pred[b] ? 1 : 0;
    let kl = 0;
    if (intact) {
      for (let c = 0; c < C; c++) {
        const lq = ref.logp[o + c];
        const pq = Math.exp(lq);
        if (pq > 0) kl += pq * (lq - soft.logp[o + c]);
      }
    }
    values.kl[b] = Math.max(0, kl);
  }
  return { values, soft };
}
