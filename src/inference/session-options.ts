/**
 * The ONNX Runtime options of the inference sessions (session workers; the bench's bare baseline
 * uses the same). Measured on the GPT-2-sized bench model (2 cores, shared machine): weight
 * prepacking made session creation take 0.6–1.2 s instead of 0.1–0.3 s, with no faster runs at these
 * batch sizes; spinning intra-op threads burn the cores that image decoding and the other workers
 * need (topo-cnn batches ran in 28 ms instead of 47 ms without it, on a loaded machine).
 */
import type { InferenceSession } from 'onnxruntime-node';

export function sessionOptions(intraOpThreads: number): InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: Math.max(1, intraOpThreads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { disable_prepacking: '1', 'intra_op.allow_spinning': '0' } },
  };
}
