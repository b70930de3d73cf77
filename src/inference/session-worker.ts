/**
 * A session on a worker thread (the pool's 'thread' isolation): `session.run` blocks the thread it
 * runs on, so it never runs on the main thread. The calls themselves are session-core.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SessionCore, type SessionInit } from './session-core.ts';
import type { WorkerRequest, WorkerResponse } from './worker-protocol.ts';

const init = (workerData as { init: SessionInit & { modelPath: string } }).init;
const port = parentPort!;

function reply(msg: WorkerResponse, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

async function main(): Promise<void> {
  let core: SessionCore;
  try {
    core = await SessionCore.open(init.modelPath, init);
  } catch (e) {
    reply({ id: -1, ok: false, error: (e as Error).message });
    return;
  }
  reply({ id: -1, ok: true, kind: 'ready', inputs: core.inputNames, outputs: core.outputNames });
  // Requests are handled one at a time: the pool never sends a second before the first is answered.
  port.on('message', (req: WorkerRequest) => {
    core.call(req).then(
      ({ answer, transfer }) => reply({ id: req.id, ok: true, ...answer }, transfer),
      (e: unknown) => reply({ id: req.id, ok: false, error: (e as Error).message ?? String(e) }),
    );
  });
}

void main();
