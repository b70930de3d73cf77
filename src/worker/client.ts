/**
 * A worker's side of the coordinator's HTTP API: JSON documents, blobs by content hash (verified), and
 * partials. Requests carry the API key; a coordinator that is restarting (refused connections, 5xx) is
 * retried for a while, a 404/409 (the pass is over) is final.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { writeHashed } from '../pipeline/shards.ts';

/** The coordinator no longer wants this work (the pass finished, was cancelled or changed). */
export class GoneError extends Error {}

export interface ClientOptions {
  api: string;
  key: string | null;
  /** host:pid, sent with partials. */
  tag: string;
  /** How long a coordinator that does not answer is retried. */
  retryMs: number;
}

export class CoordinatorClient {
  private readonly base: string;
  constructor(private readonly o: ClientOptions) {
    this.base = o.api.replace(/\/+$/, '');
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.o.key ? { authorization: `Bearer ${this.o.key}` } : {}), ...extra };
  }

  /** fetch with retries while the coordinator is unreachable or failing (5xx); 4xx answers are returned. */
  private async request(path: string, init: RequestInit, signal?: AbortSignal): Promise<Response> {
    const until = Date.now() + this.o.retryMs;
    let wait = 250;
    for (;;) {
      let why: string;
      try {
        const r = await fetch(this.base + path, { ...init, signal });
        if (r.status < 500) return r;
        why = `${r.status} ${(await r.text()).slice(0, 300)}`;
      } catch (e) {
        if (signal?.aborted) throw e;
        why = (e as Error & { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
      }
      if (Date.now() + wait > until) throw new Error(`coordinator ${this.base} did not answer ${init.method ?? 'GET'} ${path} for ${Math.round(this.o.retryMs / 1000)} s: ${why}`);
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(5000, wait * 2);
    }
  }

  private async ok(r: Response, what: string): Promise<Response> {
    if (r.ok) return r;
    const text = (await r.text()).slice(0, 500);
    let message = text;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      // not the error shape
    }
    if (r.status === 404 || r.status === 409) throw new GoneError(`${what}: ${message}`);
    throw new Error(`${what}: ${r.status} ${message}`);
  }

  async json<T>(path: string, signal?: AbortSignal): Promise<T> {
    const r = await this.ok(await this.request(path, { headers: this.headers() }, signal), `GET ${path}`);
    return (await r.json()) as T;
  }

  /** A blob's bytes, checked against its hash. */
  async bytes(sha256: string, signal?: AbortSignal): Promise<Buffer> {
    const r = await this.ok(await this.request(`/v1/blobs/${sha256}`, { headers: this.headers() }, signal), `blob ${sha256.slice(0, 12)}…`);
    const b = Buffer.from(await r.arrayBuffer());
    const got = crypto.createHash('sha256').update(b).digest('hex');
    if (got !== sha256) throw new Error(`blob ${sha256.slice(0, 12)}… arrived with sha256 ${got.slice(0, 12)}…`);
    return b;
  }

  /** A blob streamed to `file` (written to a temp file, hash checked, then renamed). */
  async download(sha256: string, file: string, signal?: AbortSignal): Promise<void> {
    const r = await this.ok(await this.request(`/v1/blobs/${sha256}`, { headers: this.headers() }, signal), `blob ${sha256.slice(0, 12)}…`);
    const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    const got = (await writeHashed(r.body as unknown as AsyncIterable<Uint8Array>, tmp)).sha256;
    if (got !== sha256) {
      fs.rmSync(tmp, { force: true });
      throw new Error(`blob ${sha256.slice(0, 12)}… arrived with sha256 ${got.slice(0, 12)}…`);
    }
    fs.renameSync(tmp, file);
  }

  async putPartial(pass: string, shard: number, plan: string, body: Buffer, timings: Record<string, number>, signal?: AbortSignal): Promise<{ stored: boolean }> {
    const path = `/v1/shards/${encodeURIComponent(pass)}/${shard}`;
    const r = await this.request(
      path,
      {
        method: 'PUT',
        headers: this.headers({ 'content-type': 'application/octet-stream', 'x-toposcope-plan': plan, 'x-toposcope-worker': this.o.tag, 'x-toposcope-timings': JSON.stringify(timings) }),
        body: new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.byteLength),
      },
      signal,
    );
    return (await (await this.ok(r, `PUT ${path}`)).json()) as { stored: boolean };
  }
}
