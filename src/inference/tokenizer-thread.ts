/**
 * Tokenisation on a worker thread: a long text (or a large batch) never stalls the event loop that
 * answers HTTP requests. The thread holds one TextEncoder; batches are answered in order.
 */
import { parentPort, workerData, type Worker } from 'node:worker_threads';
import type { TextInput } from '../domain/manifest.ts';
import { StimulusError, TextEncoder, type TextBatch } from './encode.ts';
import { moduleUrl, startWorker } from './threads.ts';

const ENTRY = moduleUrl('./tokenizer-thread.ts', import.meta.url);

type Request = { id: number; texts: string[]; labels?: string[] };
type Response = { id: number; ok: true; batch: TextBatch } | { id: number; ok: false; message: string; stimulus: boolean };

if (parentPort && (workerData as { entry?: string } | null)?.entry === ENTRY.href) {
  const port = parentPort;
  const { spec, modelDir } = workerData as { spec: TextInput; modelDir: string };
  let enc: TextEncoder | null = null;
  port.on('message', (m: Request) => {
    try {
      enc ??= new TextEncoder(spec, modelDir);
      const batch = enc.encode(m.texts, m.labels);
      const transfer = Object.values(batch.feeds).map((f) => f.data);
      port.postMessage({ id: m.id, ok: true, batch } satisfies Response, transfer);
    } catch (e) {
      port.postMessage({ id: m.id, ok: false, message: (e as Error).message, stimulus: e instanceof StimulusError } satisfies Response);
    }
  });
}

/** The main-thread side: same `encode` as TextEncoder, answered by the thread. */
export class TokenizerThread {
  private readonly worker: Worker;
  private next = 1;
  private pending = new Map<number, { resolve: (b: TextBatch) => void; reject: (e: Error) => void }>();

  constructor(spec: TextInput, modelDir: string) {
    this.worker = startWorker(ENTRY, { workerData: { spec, modelDir } });
    this.worker.on('message', (m: Response) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.batch);
      else p.reject(m.stimulus ? new StimulusError(m.message) : new Error(m.message));
    });
    const fail = (e: Error) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`tokenizer thread exited with code ${code}`)));
  }

  encode(texts: string[], labels?: string[]): Promise<TextBatch> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, texts, labels } satisfies Request);
    });
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}
