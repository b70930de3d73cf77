import path from 'node:path';
import { SessionPool } from '../src/inference/pool.ts';
const dir = process.argv[2];
const pool = await SessionPool.create(path.join(dir, 'exposed.onnx'), { workers: 1, intraOpThreads: 2 });
const layers = JSON.parse(process.argv[3]);
const mk = () => { const d = new Float32Array(32*3*64*64); for (let i=0;i<d.length;i++) d[i]=Math.sin(i); return { input: { type: 'float32' as const, dims: [32,3,64,64], data: d.buffer as ArrayBuffer } }; };
for (const depth of [1, 2, 4]) {
  const feeds = Array.from({length:32}, mk);
  let run = 0; const t0 = performance.now();
  const inflight: Promise<unknown>[] = [];
  for (let k = 0; k < 32; k++) {
    if (inflight.length >= depth) await inflight.shift();
    inflight.push(pool.pool(feeds[k], layers, null).then(r => { run += r.runMs; }));
  }
  await Promise.all(inflight);
  console.log('depth', depth, 'wall', (performance.now()-t0).toFixed(0), 'run', run.toFixed(0));
}
await pool.close();
