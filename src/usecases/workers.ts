/**
 * What the coordinator serves its workers (distributed mode): the pass, a shard's work, model files and
 * stimulus items by content hash, and the receipt of a shard's partial.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.ts';
import type { Distributed, ShardMeta } from '../jobs/distributed.ts';
import type { JobQueue } from '../jobs/queue.ts';
import type { PassSpec, ShardWork } from '../pipeline/shards.ts';
import type { Context } from '../store/context.ts';
import { itemContent } from '../store/sets-repo.ts';

function coordinator(jobs: JobQueue): Distributed {
  if (!jobs.distributed) throw new ConflictError('this server is not a coordinator: TOPOSCOPE_REDIS_URL is not set, jobs run in its own process');
  return jobs.distributed;
}

export function passDocument(jobs: JobQueue, id: string): PassSpec {
  return coordinator(jobs).passSpec(id);
}

export function shardDocument(jobs: JobQueue, id: string, shard: number): ShardWork {
  return coordinator(jobs).shardWork(id, shard);
}

/** A blob by its sha256: a model file of a running pass, or a stored stimulus item. */
export function blob(ctx: Context, jobs: JobQueue, sha256: string): { file: string; size: number } | { bytes: Buffer } {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new ValidationError('hash must be 64 lowercase hex digits (a sha256)', 'hash');
  const model = coordinator(jobs).modelFile(sha256);
  if (model) return { file: model, size: fs.statSync(model).size };
  const item = itemContent(ctx.db, sha256);
  if (item?.path) {
    const file = path.join(ctx.paths.data, item.path);
    return { file, size: fs.statSync(file).size };
  }
  if (item?.text !== null && item?.text !== undefined) return { bytes: Buffer.from(item.text, 'utf8') };
  throw new NotFoundError('blob', sha256);
}

export function receiveShard(jobs: JobQueue, id: string, shard: number, body: Readable, meta: ShardMeta): Promise<{ stored: boolean }> {
  return coordinator(jobs).receive(id, shard, body, meta);
}
