import { runContrast } from '../src/pipeline/contrast.ts';
import { planStimuli } from '../src/pipeline/plan.ts';
import { contrastEnv } from '../src/jobs/queue.ts';
import { loadConfig } from '../src/config.ts';
import { createContext, closeContext } from '../src/store/context.ts';
import { getModel } from '../src/store/models-repo.ts';
import { setItems } from '../src/usecases/stimulus-sets.ts';
import { WarmPools } from '../src/inference/warm-pools.ts';
const spec = JSON.parse((await import('node:fs')).readFileSync(process.argv[2], 'utf8'));
const ctx = createContext(loadConfig(process.env, { dataDir: spec.dataDir, registerFixtures: false }));
const model = getModel(ctx.db, spec.modelId)!;
const stimuli = planStimuli([spec.setA], [spec.setB], (id) => setItems(ctx, id));
const pools = new WarmPools(600000);
for (let r = 0; r < 4; r++) {
  const t0 = performance.now(); const c0 = process.cpuUsage();
  const o = await runContrast({ ...contrastEnv(ctx, model), pools }, stimuli, { layers: [], pooling: null, test: 'welch', correction: 'bh', correctionScope: 'layer', alpha: 0.05, keepActivations: false, batchSize: 32, batchOrder: 'length' });
  const c = process.cpuUsage(c0);
  const t = o.timings;
  console.log(r, (performance.now()-t0).toFixed(0), 'setup', t.setupMs.toFixed(0), 'loop', t.inferenceWallMs.toFixed(0), 'run', t.inferenceMs.toFixed(0), 'stats', t.statsMs.toFixed(0), 'cpu', ((c.user+c.system)/1000).toFixed(0));
}
await pools.close(); closeContext(ctx);
