/**
 * A bound on CPU-heavy GETs (rendered maps and plots, per-unit documents, tensor listings): at most
 * `concurrency` of them are served at once; the others wait in line (without holding the event loop)
 * and beyond `queue` waiting ones the server answers 503 with Retry-After. They are let in one per turn
 * of the event loop, so a burst of them (even of cached maps, ~0.5 ms each) is interleaved with
 * everything else — /health, job states, small JSON — which never waits behind them.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * Route patterns (as registered) whose GETs are CPU-heavy: every figure (PNG, SVG), maps as .npy,
 * per-unit documents, tensor listings. Stored files streamed as they are (activations) are not.
 */
export const HEAVY_GET = [/\.(png|svg)$/, /\/map\.npy$/, /\/contrasts\/:id\/layers\/:layer$/, /\/models\/:id\/tensors$/];

export interface HeavyGetLimit {
  concurrency: number;
  queue: number;
}

/** Counts a limiter exposes (for tests and the benchmark). */
export interface HeavyGetStats {
  running: number;
  waiting: number;
  maxRunning: number;
  maxWaiting: number;
  rejected: number;
}

const held = Symbol('heavyGetSlot');

/** Adds the limit to every route of `app` (call before the routes are registered). */
export function limitHeavyGets(app: FastifyInstance, limit: { heavyGetConcurrency: number; heavyGetQueue: number }): HeavyGetStats {
  const concurrency = Math.max(1, limit.heavyGetConcurrency);
  const stats: HeavyGetStats = { running: 0, waiting: 0, maxRunning: 0, maxWaiting: 0, rejected: 0 };
  const line: { req: FastifyRequest; go: () => void }[] = [];
  const heavy = (req: FastifyRequest) => (req.method === 'GET' || req.method === 'HEAD') && HEAVY_GET.some((r) => r.test(req.routeOptions.url ?? ''));
  // One admission per turn: a setImmediate queued from a check-phase callback runs after the next poll
  // phase, so sockets that became readable meanwhile (a /health probe) are read in between.
  let scheduled = false;
  const admit = () => {
    scheduled = false;
    if (stats.running >= concurrency) return;
    const next = line.shift();
    if (!next) return;
    stats.waiting--;
    stats.running++;
    stats.maxRunning = Math.max(stats.maxRunning, stats.running);
    (next.req as FastifyRequest & { [held]?: boolean })[held] = true;
    next.go();
    pump();
  };
  const pump = () => {
    if (scheduled || line.length === 0 || stats.running >= concurrency) return;
    scheduled = true;
    setImmediate(admit);
  };
  const release = (req: FastifyRequest) => {
    const r = req as FastifyRequest & { [held]?: boolean };
    if (!r[held]) return;
    r[held] = false;
    stats.running--;
    pump();
  };
  app.addHook('onRequest', async (req, reply) => {
    if (!heavy(req)) return;
    if (stats.running + stats.waiting >= concurrency + limit.heavyGetQueue) {
      stats.rejected++;
      return reply
        .code(503)
        .header('Retry-After', '1')
        .send({ statusCode: 503, error: 'Service Unavailable', code: 'OVERLOADED', message: `too many map and plot requests at once (${stats.running} served, ${stats.waiting} waiting); retry shortly` });
    }
    stats.waiting++;
    stats.maxWaiting = Math.max(stats.maxWaiting, stats.waiting);
    const admitted = new Promise<void>((go) => line.push({ req, go }));
    pump();
    await admitted;
  });
  app.addHook('onResponse', async (req) => release(req));
  app.addHook('onRequestAbort', async (req) => {
    const i = line.findIndex((w) => w.req === req);
    if (i >= 0) {
      line.splice(i, 1); // gave up while waiting: never served
      stats.waiting--;
    } else release(req);
  });
  return stats;
}
