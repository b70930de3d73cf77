/** Messages between the worker pool (main thread) and session workers. */

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

export type WorkerRequest =
  | { id: number; kind: 'pool'; feeds: Record<string, FeedSpec>; layers: LayerFetch[]; lengths: ArrayBuffer | null }
  | { id: number; kind: 'probe'; feeds: Record<string, FeedSpec>; fetch: string[] };

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
  | { id: number; ok: false; error: string };
