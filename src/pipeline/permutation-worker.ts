/**
 * Worker thread of {@link permutationTestOrt}: runs the whole permutation test (model building, ONNX
 * Runtime sessions, cluster statistics) off the caller's thread and posts progress and the result.
 * Started by startWorker (src/inference/threads.ts) with workerData { entry, job }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { runPermutationCore, type CoreJob, type PermutationWorkerMessage } from './permutation-engine.ts';

const port = parentPort!;

function post(m: PermutationWorkerMessage, transfer: ArrayBuffer[] = []): void {
  port.postMessage(m, transfer);
}

async function main(): Promise<void> {
  const job = (workerData as { job: CoreJob }).job;
  try {
    const { result, timings } = await runPermutationCore(ort, job, (done, total) => post({ kind: 'progress', done, total }));
    const transfer: ArrayBuffer[] = [result.tObs.buffer, result.maxNull.buffer, result.pFWE.buffer] as ArrayBuffer[];
    if (result.cluster) transfer.push(result.cluster.massNull.buffer as ArrayBuffer, result.cluster.sizeNull.buffer as ArrayBuffer, result.cluster.labels.buffer as ArrayBuffer);
    post({ kind: 'result', result, timings }, transfer);
  } catch (e) {
    post({ kind: 'error', message: (e as Error)?.message ?? String(e) });
  }
}

void main();
