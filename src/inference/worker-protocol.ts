/** Messages between the worker pool (main thread) and session workers. */
import type { LesionConfig, LesionSite } from '../domain/lesion.ts';
import type { OutputKind } from '../domain/manifest.ts';

export type { LesionConfig, LesionSite };

export interface FeedSpec {
  type: 'float32' | 'int64' | 'int32';
  dims: number[];
  data: ArrayBuffer;
}

export interface LayerFetch {
  key: string;
  tensor: string;
  unitAxis: number;
  pooling: string;
}

/** The behaviour output a 'behaviour' request scores. */
export interface BehaviourFetch {
  tensor: string;
  kind: OutputKind;
}

export type WorkerRequest =
  | { id: number; kind: 'pool'; feeds: Record<string, FeedSpec>; layers: LayerFetch[]; lengths: ArrayBuffer | null }
  | { id: number; kind: 'probe'; feeds: Record<string, FeedSpec>; fetch: string[] }
  | {
      id: number;
      kind: 'behaviour';
      feeds: Record<string, FeedSpec>;
      output: BehaviourFetch;
      /** Real tokens per text (lm). */
      lengths: ArrayBuffer | null;
      /** Token ids, B×T int32 (lm). */
      targets: ArrayBuffer | null;
      /** Class index per stimulus or −1, int32 (classifier). */
      labels: ArrayBuffer | null;
      /** Run after the intact model, in order; the reply has 1 + configs.length results. */
      configs: LesionConfig[];
    };

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

export type WorkerResponse =
  | { id: number; ok: true; kind: 'ready'; inputs: string[]; outputs: string[] }
  | { id: number; ok: true; kind: 'pool'; layers: PooledLayerOut[]; runMs: number; ms: number }
  | { id: number; ok: true; kind: 'probe'; shapes: ProbeShape[]; ms: number }
  | { id: number; ok: true; kind: 'behaviour'; results: BehaviourResult[]; runMs: number; ms: number }
  | { id: number; ok: false; error: string };
