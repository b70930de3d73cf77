/** File helpers: hashing, atomic moves, and resolving client-given paths inside configured roots. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ValidationError } from '../domain/errors.ts';

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
