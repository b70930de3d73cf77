/**
 * Serving maps cheaply: rendered maps (PNG, SVG, NPY) are kept in memory by (contrast, its finish
 * time, layer, statistic, drawing parameters) up to a byte bound, least recently used out first;
 * concurrent requests for the same map share one rendering; renderings run on a small pool of
 * worker threads, so the event loop only looks up, queues and replies.
 *
 * A stored contrast's results never change once it has succeeded (a new run is a new contrast), so an
 * entry can only go stale by deletion: the callers look the contrast up before the cache.
 */
import type { Worker } from 'node:worker_threads';
import { moduleUrl, startWorker } from '../inference/threads.ts';
import { renderMapPng, renderMapSvg, type MapOptions } from '../render/index.ts';
import type { Context } from '../store/context.ts';
import type { RenderRequest, RenderResponse } from './map-render-worker.ts';

type Value = Buffer | string;

const size = (v: Value) => (typeof v === 'string' ? Buffer.byteLength(v) : v.length);

/** A byte-bounded LRU map with single-flight computation. */
export class MapCache {
  private entries = new Map<string, Value>();
  private inflight = new Map<string, Promise<Value>>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(readonly maxBytes: number) {}

  get size(): number {
    return this.entries.size;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  peek(key: string): Value | undefined {
    const v = this.entries.get(key);
    if (v === undefined) return undefined;
    this.entries.delete(key); // most recent last
    this.entries.set(key, v);
    return v;
  }

  private store(key: string, v: Value): void {
    const n = size(v);
    if (n > this.maxBytes) return;
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.bytes -= size(old);
      this.entries.delete(key);
    }
    this.entries.set(key, v);
    this.bytes += n;
    for (const [k, e] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= size(e);
    }
  }

  /** The cached value, or the one `make` computes now (synchronous callers). */
  sync<T extends Value>(key: string, make: () => T): T {
    const hit = this.peek(key);
    if (hit !== undefined) {
      this.hits++;
      return hit as T;
    }
    this.misses++;
    const v = make();
    if (this.maxBytes > 0) this.store(key, v);
    return v;
  }

  /** The cached value, or the one `make` computes (once for all concurrent callers of a key). */
  async through<T extends Value>(key: string, make: () => Promise<T>): Promise<T> {
    const hit = this.peek(key);
    if (hit !== undefined) {
      this.hits++;
      return hit as T;
    }
    const running = this.inflight.get(key);
    if (running) {
      this.hits++;
      return running as Promise<T>;
    }
    this.misses++;
    const p = make().then(
      (v) => {
        this.inflight.delete(key);
        if (this.maxBytes > 0) this.store(key, v);
        return v;
      },
      (e: unknown) => {
        this.inflight.delete(key);
        throw e;
      },
    );
    this.inflight.set(key, p);
    return p;
  }
}

const ENTRY = moduleUrl('./map-render-worker.ts', import.meta.url);
const IDLE_MS = 30_000;

interface Slot {
  w: Worker;
  busy: boolean;
  idle: NodeJS.Timeout | null;
}

/** Map rendering on worker threads (or on this thread with 0 workers); requests queue for the first free worker. */
export class MapRenderer {
  private workers: Slot[] = [];
  private queue: { req: Omit<RenderRequest, 'id'>; resolve: (v: Value) => void; reject: (e: Error) => void }[] = [];
  private pending = new Map<number, { resolve: (v: Value) => void; reject: (e: Error) => void; slot: Slot }>();
  private next = 1;

  constructor(readonly threads: number) {}

  private spawn(): Slot {
    const slot: Slot = { w: startWorker(ENTRY), busy: false, idle: null };
    slot.w.unref(); // never keeps a process alive by itself
    slot.w.on('message', (m: RenderResponse) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      slot.busy = false;
      this.idleLater(slot);
      if (m.ok) p.resolve(m.png ? Buffer.from(m.png.buffer, m.png.byteOffset, m.png.byteLength) : m.svg!);
      else p.reject(new Error(m.error));
      this.pump();
    });
    const fail = (e: Error) => {
      for (const [id, p] of this.pending) {
        if (p.slot !== slot) continue;
        this.pending.delete(id);
        p.reject(e);
      }
      this.workers = this.workers.filter((s) => s !== slot);
      this.pump();
    };
    slot.w.on('error', fail);
    slot.w.on('exit', (code) => fail(new Error(`map render worker exited with code ${code}`)));
    this.workers.push(slot);
    return slot;
  }

  /** A worker idle for IDLE_MS ends (a server that stops drawing maps gives its threads back). */
  private idleLater(slot: Slot): void {
    if (slot.idle) clearTimeout(slot.idle);
    slot.idle = setTimeout(() => {
      if (slot.busy) return;
      this.workers = this.workers.filter((s) => s !== slot);
      slot.w.removeAllListeners('exit');
      void slot.w.terminate();
    }, IDLE_MS);
    slot.idle.unref();
  }

  private pump(): void {
    while (this.queue.length) {
      let slot = this.workers.find((s) => !s.busy);
      if (!slot && this.workers.length < this.threads) slot = this.spawn();
      if (!slot) return;
      const t = this.queue.shift()!;
      const id = this.next++;
      if (slot.idle) clearTimeout(slot.idle);
      slot.busy = true;
      this.pending.set(id, { resolve: t.resolve, reject: t.reject, slot });
      slot.w.postMessage({ id, ...t.req } satisfies RenderRequest);
    }
  }

  /** Starts the workers not yet running (their modules load now, not at the next render); idle ones stay IDLE_MS longer. */
  prewarm(): void {
    if (this.threads <= 0) return;
    while (this.workers.length < this.threads) this.spawn();
    for (const s of this.workers) if (!s.busy) this.idleLater(s);
  }

  render(kind: 'png', options: MapOptions): Promise<Buffer>;
  render(kind: 'svg', options: MapOptions): Promise<string>;
  render(kind: 'png' | 'svg', options: MapOptions): Promise<Value> {
    if (this.threads <= 0) return kind === 'png' ? renderMapPng(options) : Promise.resolve(renderMapSvg(options));
    return new Promise((resolve, reject) => {
      this.queue.push({ req: { kind, options }, resolve, reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    const ws = this.workers.splice(0);
    for (const t of this.queue.splice(0)) t.reject(new Error('map renderer closed'));
    for (const s of ws) {
      if (s.idle) clearTimeout(s.idle);
      s.w.removeAllListeners('exit');
    }
    await Promise.all(ws.map((s) => s.w.terminate()));
  }
}

const perContext = new WeakMap<Context, { cache: MapCache; renderer: MapRenderer }>();

/** The map cache and renderer of a data context (made on first use, sized by its config). */
export function mapService(ctx: Context): { cache: MapCache; renderer: MapRenderer } {
  let s = perContext.get(ctx);
  if (!s) {
    s = { cache: new MapCache(ctx.config.mapCacheBytes ?? 64 * 1024 * 1024), renderer: new MapRenderer(ctx.config.renderWorkers ?? 0) };
    perContext.set(ctx, s);
  }
  return s;
}
