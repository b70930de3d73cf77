/**
 * The data directory's files: where models, stimulus blobs and kept activations live, hashing, atomic
 * writes (temp file + rename), and resolving client-given paths inside configured roots.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ValidationError } from '../domain/errors.ts';
import type { ModelRecord, StimulusItem } from '../domain/records.ts';
import type { Context } from './context.ts';

export function sha256(data: Uint8Array | string): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

export async function sha256File(file: string): Promise<{ sha256: string; bytes: number }> {
  const h = crypto.createHash('sha256');
  let bytes = 0;
  await pipeline(fs.createReadStream(file), async function* (src: AsyncIterable<Buffer>) {
    for await (const chunk of src) {
      h.update(chunk);
      bytes += chunk.length;
    }
  });
  return { sha256: h.digest('hex'), bytes };
}

/**
 * Resolves a client-given path against the allowed roots. Absolute paths must lie inside a root;
 * relative paths are tried against each root in turn. Symlinks are resolved before the check.
 */
export function resolveInsideRoots(given: string, roots: string[], field: string): string {
  if (typeof given !== 'string' || given.length === 0) throw new ValidationError(`${field} must be a non-empty path`, field);
  if (given.includes('\0')) throw new ValidationError(`${field} contains a NUL byte`, field);
  const candidates = path.isAbsolute(given) ? [path.resolve(given)] : roots.map((r) => path.resolve(r, given));
  for (const c of candidates) {
    let real: string;
    try {
      real = fs.realpathSync(c);
    } catch {
      continue;
    }
    for (const r of roots) {
      let rootReal: string;
      try {
        rootReal = fs.realpathSync(r);
      } catch {
        continue;
      }
      if (real === rootReal || real.startsWith(rootReal + path.sep)) return real;
    }
  }
  const exists = candidates.some((c) => fs.existsSync(c));
  if (exists) throw new ValidationError(`${field} '${given}' is outside the configured roots (${roots.join(', ')})`, field);
  throw new ValidationError(`${field} '${given}' does not exist inside the configured roots (${roots.join(', ')})`, field);
}

export function rmrf(p: string): void {
  fs.rmSync(p, { recursive: true, force: true });
}

export function tmpDir(base: string, prefix: string): string {
  fs.mkdirSync(base, { recursive: true });
  return fs.mkdtempSync(path.join(base, prefix));
}

export const MODEL_FILE = 'model.onnx';
export const MANIFEST_FILE = 'manifest.json';
/** The pruned copy the workers run: computes the layers (and behaviour outputs) and nothing else. */
export const EXPOSED_FILE = 'exposed.onnx';
/** The lesion copy: layers and behaviour outputs kept, a lesion site (y = x·m + o) after every layer. */
export const LESION_FILE = 'lesion.onnx';

export function modelDir(ctx: Context, m: ModelRecord): string {
  return path.join(ctx.paths.data, m.dir);
}

export function activationsDir(ctx: Context, jobId: string): string {
  return path.join(ctx.paths.activations, jobId);
}

/** Blob file of an image item, relative to the data directory. */
export function blobPath(hash: string, mediaType: string): string {
  const ext = mediaType === 'image/png' ? 'png' : mediaType === 'image/jpeg' ? 'jpg' : 'bin';
  return path.join('stimuli', hash.slice(0, 2), `${hash}.${ext}`);
}

/** Writes a content-addressed blob once: temp file, fsync, rename (never a half-written blob). */
export function writeBlob(ctx: Context, rel: string, data: Buffer): void {
  const abs = path.join(ctx.paths.data, rel);
  if (fs.existsSync(abs)) return;
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  const tmp = `${abs}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, abs);
}

export function readItemBytes(ctx: Context, item: StimulusItem): Buffer {
  if (item.text !== null) return Buffer.from(item.text, 'utf8');
  return fs.readFileSync(path.join(ctx.paths.data, item.path!));
}
