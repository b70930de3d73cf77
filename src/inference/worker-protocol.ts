/** Calls on a session (session-core.ts) and the messages that carry them to a worker thread. */
import type { LesionConfig, LesionSite } from '../domain/lesion.ts';
import type { OutputKind } from '../domain/manifest.ts';

export type { LesionConfig, LesionSite };

export interface FeedSpec {
  /** bool: one byte per element (0 or 1). */
  type: 'float32' | 'int64' | 'int32' | 'bool' | 'uint8';
  dims: number[];
  data: ArrayBuffer;
}

export interface LayerFetch {
  key: string;
  tensor: string;
  unitAxis: number;
  pooling: string;
  /** `tensor` is the layer already pooled by the graph, [batch, units] (a pooled copy: pipeline/pooled-graph.ts). */
  pooled?: boolean;
}

/** The behaviour output a 'behaviour' request scores. */
export interface BehaviourFetch {
  tensor: string;
  kind: OutputKind;
  /** lm scored in the graph: its target input, nll output and vocabulary size (else scored from the logits). */
  score?: { targets: string; nll: string; vocab: number };
}

/** What a session runs: pool a batch's layers, report fetched shapes, or score behaviour. */
export type SessionCall =
  | { kind: 'pool'; feeds: Record<string, FeedSpec>; layers: LayerFetch[]; lengths: ArrayBuffer | null }
  | { kind: 'probe'; feeds: Record<string, FeedSpec>; fetch: string[] }
  | {
      kind: 'behaviour';
      feeds: Record<string, FeedSpec>;
      output: BehaviourFetch;
      /** Real tokens per text (lm). */
      lengths: ArrayBuffer | null;
      /** Token ids, B×T int32 (lm). */
      targets: ArrayBuffer | null;
      /** Class index per stimulus or −1, int32 (classifier). */
      labels: ArrayBuffer | null;
      /** Run after the intact model, in order; the answer has 1 + configs.length results. */
      configs: LesionConfig[];
    };

export type WorkerRequest = SessionCall & { id: number };

/** Per-stimulus measures of one configuration: name → Float64Array of the batch. */
export type BehaviourResult = Record<string, ArrayBuffer>;

export interface PooledLayerOut {
  key: string;
  rows: number;
  units: number;
  data: ArrayBuffer;
  sample: ArrayBuffer;
  token: ArrayBuffer;
  dims: number[];
}

export interface ProbeShape {
  name: string;
  type: string;
  dims: number[];
}

export type SessionAnswer =
  | { kind: 'pool'; layers: PooledLayerOut[]; runMs: number }
  | { kind: 'probe'; shapes: ProbeShape[] }
  | { kind: 'behaviour'; results: BehaviourResult[]; runMs: number };

/** A fetched tensor as ONNX Runtime returned it (as float32), before pooling. */
export interface RawTensor {
  tensor: string;
  dims: number[];
  data: ArrayBuffer;
}

/**
 * A pool call's outputs before pooling: what a session thread answers when the thread that called it
 * pools them (a session process pools on its main thread while the next batch runs).
 */
export interface RawAnswer {
  kind: 'raw';
  tensors: RawTensor[];
  runMs: number;
}

export type WorkerResponse =
  | { id: number; ok: true; kind: 'ready'; inputs: string[]; outputs: string[] }
  | ({ id: number; ok: true } & (SessionAnswer | RawAnswer))
  | { id: number; ok: false; error: string };
