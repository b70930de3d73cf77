/**
 * Configuration: environment variables with defaults, overridable by callers (CLI flags, tests).
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const VERSION: string = '0.1.0';

export interface Config {
  /** Folder holding the SQLite file, stored model files and stimulus blobs. */
  dataDir: string;
  host: string;
  port: number;
  /** When set, every write (POST/PUT/DELETE) needs `Authorization: Bearer <apiKey>`. */
  apiKey: string | null;
  /** Require the API key on /v1 reads as well (servers not on localhost). */
  apiKeyReads: boolean;
  /** CPU-heavy GETs (map renderings, tensor listings) per client and minute; 0 = no limit. */
  heavyGetsPerMinute: number;
  /** Server-side folders that clients may name when registering models / stimulus sets. */
  modelsRoots: string[];
  stimuliRoots: string[];
  /** Upload limits. */
  maxUploadBytes: number;
  maxUploadFiles: number;
  maxTextItems: number;
  /** Longest text item, in characters (longer texts are refused when a set is created). */
  maxTextChars: number;
  /** Largest image, in pixels (width × height), accepted into a set. */
  maxImagePixels: number;
  /** Inference: sessions (one child process each), ORT intra-op threads per session, batch size. */
  workers: number;
  intraOpThreads: number;
  batchSize: number;
  /** Contrast jobs run at once. */
  jobConcurrency: number;
  /** Register the bundled fixture models and stimulus sets at start-up. */
  registerFixtures: boolean;
  /** What to do with jobs found `running` at start-up: re-queue them, or mark them failed. */
  recovery: 'resume' | 'fail';
  logLevel: string;
  /** Bytes of preprocessed images kept on disk in <dataDir>/cache/images (0 disables the cache). */
  imageCacheBytes: number;
  /** Seconds a job's session pool stays open for the next job on the same model file (0: closed at once). */
  sessionIdleSeconds: number;
  /** Mean/max layers are pooled by a copy of the model's graph (else fetched whole and pooled in JavaScript). */
  poolInGraph: boolean;
  /** Bytes of rendered maps (PNG/SVG/NPY) kept in memory (0 disables the cache). */
  mapCacheBytes: number;
  /** Worker threads rendering maps off the main thread (0: render on the main thread). */
  renderWorkers: number;
  /** The server renders each succeeded contrast's default layer maps into the map cache ahead of requests. */
  prerenderMaps: boolean;
  /** CPU-heavy GETs (maps, plots, per-unit documents) served at once; more wait in line. */
  heavyGetConcurrency: number;
  /** CPU-heavy GETs waiting in line at most; beyond, 503 with Retry-After. */
  heavyGetQueue: number;
  /** Batches per shard of a pass: the unit of distribution and of the fixed merge order (both modes). */
  shardBatches: number;
  /** Distributed mode: the Redis of the BullMQ queue (null: embedded, inference in this process). */
  redisUrl: string | null;
  /** Workers: a shard whose worker stops renewing its lock for this long goes to another worker. */
  stalledMs: number;
  /** Coordinator: a job fails when Redis has been unreachable this long. */
  redisTimeoutMs: number;
}

function int(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${v}"`);
  return n;
}

function list(v: string | undefined, dflt: string[]): string[] {
  if (v === undefined || v === '') return dflt;
  return v
    .split(path.delimiter)
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => path.resolve(s));
}

export function defaultThreads(): { workers: number; intraOpThreads: number } {
  const cores = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  // One worker per two cores (at least one), ORT threads filling the rest: workers × threads ≤ cores.
  const workers = Math.max(1, Math.floor(cores / 2));
  const intraOpThreads = Math.max(1, Math.floor(cores / workers));
  return { workers, intraOpThreads };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const t = defaultThreads();
  const workers = int(env.TOPOSCOPE_WORKERS, t.workers, 'TOPOSCOPE_WORKERS') || t.workers;
  const cores = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const cfg: Config = {
    dataDir: path.resolve(env.TOPOSCOPE_DATA_DIR || './data'),
    host: env.TOPOSCOPE_HOST || '127.0.0.1',
    port: int(env.TOPOSCOPE_PORT ?? env.PORT, 3000, 'TOPOSCOPE_PORT'),
    apiKey: env.TOPOSCOPE_API_KEY ? env.TOPOSCOPE_API_KEY : null,
    apiKeyReads: env.TOPOSCOPE_API_KEY_READS === '1' || env.TOPOSCOPE_API_KEY_READS === 'true',
    heavyGetsPerMinute: int(env.TOPOSCOPE_HEAVY_GETS_PER_MINUTE, 600, 'TOPOSCOPE_HEAVY_GETS_PER_MINUTE'),
    modelsRoots: list(env.TOPOSCOPE_MODELS_ROOTS, [path.join(PROJECT_ROOT, 'fixtures', 'models')]),
    stimuliRoots: list(env.TOPOSCOPE_STIMULI_ROOTS, [path.join(PROJECT_ROOT, 'fixtures', 'stimuli')]),
    maxUploadBytes: int(env.TOPOSCOPE_MAX_UPLOAD_BYTES, 512 * 1024 * 1024, 'TOPOSCOPE_MAX_UPLOAD_BYTES'),
    maxUploadFiles: int(env.TOPOSCOPE_MAX_UPLOAD_FILES, 5000, 'TOPOSCOPE_MAX_UPLOAD_FILES'),
    maxTextItems: int(env.TOPOSCOPE_MAX_TEXT_ITEMS, 100000, 'TOPOSCOPE_MAX_TEXT_ITEMS'),
    maxTextChars: int(env.TOPOSCOPE_MAX_TEXT_CHARS, 20000, 'TOPOSCOPE_MAX_TEXT_CHARS') || 20000,
    maxImagePixels: int(env.TOPOSCOPE_MAX_IMAGE_PIXELS, 4096 * 4096, 'TOPOSCOPE_MAX_IMAGE_PIXELS') || 4096 * 4096,
    workers,
    intraOpThreads: int(env.TOPOSCOPE_ORT_THREADS, Math.max(1, Math.floor(cores / workers)), 'TOPOSCOPE_ORT_THREADS') || 1,
    batchSize: int(env.TOPOSCOPE_BATCH_SIZE, 32, 'TOPOSCOPE_BATCH_SIZE') || 32,
    jobConcurrency: int(env.TOPOSCOPE_JOB_CONCURRENCY, 1, 'TOPOSCOPE_JOB_CONCURRENCY') || 1,
    registerFixtures: (env.TOPOSCOPE_REGISTER_FIXTURES ?? '1') !== '0',
    recovery: env.TOPOSCOPE_RECOVERY === 'fail' ? 'fail' : 'resume',
    logLevel: env.TOPOSCOPE_LOG_LEVEL || 'info',
    imageCacheBytes: int(env.TOPOSCOPE_IMAGE_CACHE_BYTES, 1024 * 1024 * 1024, 'TOPOSCOPE_IMAGE_CACHE_BYTES'),
    sessionIdleSeconds: int(env.TOPOSCOPE_SESSION_IDLE_SECONDS, 60, 'TOPOSCOPE_SESSION_IDLE_SECONDS'),
    poolInGraph: (env.TOPOSCOPE_POOL_IN_GRAPH ?? '1') !== '0',
    mapCacheBytes: int(env.TOPOSCOPE_MAP_CACHE_BYTES, 64 * 1024 * 1024, 'TOPOSCOPE_MAP_CACHE_BYTES'),
    renderWorkers: int(env.TOPOSCOPE_RENDER_WORKERS, Math.min(2, cores), 'TOPOSCOPE_RENDER_WORKERS'),
    prerenderMaps: (env.TOPOSCOPE_PRERENDER_MAPS ?? '1') !== '0',
    heavyGetConcurrency: int(env.TOPOSCOPE_HEAVY_GET_CONCURRENCY, Math.max(2, 2 * cores), 'TOPOSCOPE_HEAVY_GET_CONCURRENCY') || 1,
    heavyGetQueue: int(env.TOPOSCOPE_HEAVY_GET_QUEUE, 1000, 'TOPOSCOPE_HEAVY_GET_QUEUE'),
    shardBatches: int(env.TOPOSCOPE_SHARD_BATCHES, 16, 'TOPOSCOPE_SHARD_BATCHES') || 16,
    redisUrl: env.TOPOSCOPE_REDIS_URL ? env.TOPOSCOPE_REDIS_URL : null,
    stalledMs: int(env.TOPOSCOPE_STALLED_MS, 30000, 'TOPOSCOPE_STALLED_MS') || 30000,
    redisTimeoutMs: int(env.TOPOSCOPE_REDIS_TIMEOUT_MS, 30000, 'TOPOSCOPE_REDIS_TIMEOUT_MS') || 30000,
  };
  return { ...cfg, ...overrides };
}
