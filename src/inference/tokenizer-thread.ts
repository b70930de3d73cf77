/**
 * Tokenisation on a worker thread: a long text (or a large batch) never stalls the event loop that
 * answers HTTP requests. The thread holds one TextEncoder; batches are answered in order.
 */
import { parentPort, workerData, type Worker } from 'node:worker_threads';
import type { TextInput } from '../domain/manifest.ts';
import { TextEncoder, type TextBatch } from './encode-text.ts';
import { StimulusError } from './stimulus-error.ts';
import { moduleUrl, startWorker } from './threads.ts';

const ENTRY = moduleUrl('./tokenizer-thread.ts', import.meta.url);

/** Every text's token ids, packed: text i is `ids[offsets[i] … offsets[i+1])`; truncated[i] = 1 when cut to maxTokens. */
export interface TokenizedTexts {
  offsets: Int32Array;
  ids: Int32Array;
  truncated: Uint8Array;
}

type Request = { id: number; op: 'encode' | 'table'; texts: string[]; labels?: string[] };
type Response =
  | { id: number; ok: true; batch?: TextBatch; table?: TokenizedTexts }
  | { id: number; ok: false; message: string; stimulus: boolean };

function table(enc: TextEncoder, texts: string[], labels?: string[]): TokenizedTexts {
  const lists: number[][] = new Array(texts.length);
  const offsets = new Int32Array(texts.length + 1);
  const truncated = new Uint8Array(texts.length);
  for (let i = 0; i < texts.length; i++) {
    const r = enc.checkedIds(texts[i], labels?.[i] ?? `#${i}`);
    lists[i] = r.ids;
    if (r.truncated) truncated[i] = 1;
    offsets[i + 1] = offsets[i] + r.ids.length;
  }
  const ids = new Int32Array(offsets[texts.length]);
  for (let i = 0; i < texts.length; i++) ids.set(lists[i], offsets[i]);
  return { offsets, ids, truncated };
}

if (parentPort && (workerData as { entry?: string } | null)?.entry === ENTRY.href) {
  const port = parentPort;
  const { spec, modelDir } = workerData as { spec: TextInput; modelDir: string };
  let enc: TextEncoder | null = null;
  port.on('message', (m: Request) => {
    try {
      enc ??= new TextEncoder(spec, modelDir);
      if (m.op === 'table') {
        const t = table(enc, m.texts, m.labels);
        port.postMessage({ id: m.id, ok: true, table: t } satisfies Response, [t.offsets.buffer as ArrayBuffer, t.ids.buffer as ArrayBuffer, t.truncated.buffer as ArrayBuffer]);
      } else {
        const batch = enc.encode(m.texts, m.labels);
        port.postMessage({ id: m.id, ok: true, batch } satisfies Response, Object.values(batch.feeds).map((f) => f.data));
      }
    } catch (e) {
      port.postMessage({ id: m.id, ok: false, message: (e as Error).message, stimulus: e instanceof StimulusError } satisfies Response);
    }
  });
}

/** The main-thread side: same `encode` as TextEncoder, answered by the thread. */
export class TokenizerThread {
  private readonly worker: Worker;
  private next = 1;
  private pending = new Map<number, { resolve: (r: Extract<Response, { ok: true }>) => void; reject: (e: Error) => void }>();

  constructor(spec: TextInput, modelDir: string) {
    this.worker = startWorker(ENTRY, { workerData: { spec, modelDir } });
    this.worker.on('message', (m: Response) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m);
      else p.reject(m.stimulus ? new StimulusError(m.message) : new Error(m.message));
    });
    const fail = (e: Error) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`tokenizer thread exited with code ${code}`)));
  }

  private call(op: Request['op'], texts: string[], labels?: string[]): Promise<Extract<Response, { ok: true }>> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, op, texts, labels } satisfies Request);
    });
  }

  /** One padded batch of texts. */
  async encode(texts: string[], labels?: string[]): Promise<TextBatch> {
    return (await this.call('encode', texts, labels)).batch!;
  }

  /** Every text's ids (a job's whole list, tokenised once in the plan stage). */
  async table(texts: string[], labels?: string[]): Promise<TokenizedTexts> {
    return (await this.call('table', texts, labels)).table!;
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}
