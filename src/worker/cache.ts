/**
 * A worker's local cache, content-addressed: blobs by sha256 (model files and stimulus items fetched
 * from the coordinator, each verified), and per ONNX file a folder holding it and its data files under
 * the names the model refers to (links to the blobs).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { PassSpec } from '../pipeline/shards.ts';
import type { CoordinatorClient } from './client.ts';

export class BlobCache {
  private readonly blobs: string;
  private readonly models: string;
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(
    readonly dir: string,
    private readonly client: CoordinatorClient,
  ) {
    this.blobs = path.join(dir, 'blobs');
    this.models = path.join(dir, 'models');
    fs.mkdirSync(this.blobs, { recursive: true });
    fs.mkdirSync(this.models, { recursive: true });
    for (const d of [this.blobs, this.models])
      for (const f of fs.readdirSync(d)) if (f.endsWith('.tmp')) fs.rmSync(path.join(d, f), { force: true });
  }

  private blobFile(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256: '${sha256.slice(0, 80)}'`);
    return path.join(this.blobs, sha256);
  }

  /** The cached file of a blob, fetched once (concurrent callers share the download). */
  file(sha256: string, signal?: AbortSignal): Promise<string> {
    const file = this.blobFile(sha256);
    if (fs.existsSync(file)) return Promise.resolve(file);
    let p = this.inFlight.get(sha256);
    if (!p) {
      p = this.client.download(sha256, file, signal).then(() => file);
      p.finally(() => this.inFlight.delete(sha256)).catch(() => undefined);
      this.inFlight.set(sha256, p);
    }
    return p;
  }

  /** A blob's bytes (stimulus items: small, kept on disk for the next pass). */
  async bytes(sha256: string, signal?: AbortSignal): Promise<Buffer> {
    return fs.promises.readFile(await this.file(sha256, signal));
  }

  /** The pass' ONNX file, with its data files beside it under their own names; returns its path. */
  async model(spec: PassSpec, signal?: AbortSignal): Promise<string> {
    const [onnx] = spec.files;
    const dir = path.join(this.models, onnx.sha256);
    fs.mkdirSync(dir, { recursive: true });
    for (const f of spec.files) {
      if (path.basename(f.name) !== f.name) throw new Error(`model file name '${f.name}' is not a plain file name`);
      const target = path.join(dir, f.name);
      if (fs.existsSync(target) && fs.statSync(target).size === f.bytes) continue;
      const blob = await this.file(f.sha256, signal);
      const tmp = `${target}.${process.pid}.tmp`;
      try {
        fs.linkSync(blob, tmp);
      } catch {
        fs.copyFileSync(blob, tmp);
      }
      fs.renameSync(tmp, target);
    }
    return path.join(dir, onnx.name);
  }
}
