/**
 * The results of docs/lesions.md, computed through the API of a real server (`node dist/main.js serve`
 * on a fresh data folder with the bundled fixtures registered; run `npm run build` first):
 *
 * - topo-gpt and flat-gpt: toxic vs neutral, then zero lesions of the top 5 % of every MLP sheet by t
 *   and of the largest toxic > neutral cluster, scored as Δ cross-entropy on toxic and on neutral text
 *   against 20 random and 20 spatial controls; the top 5 % also as a mean lesion;
 * - topo-cnn and flat-cnn: faces vs objects, the same two regions scored on face and object accuracy;
 * - a dose-response (top 1, 2, 5, 10, 20 % per sheet) on each GPT and each CNN.
 *
 * Writes the figures the service made to docs/lesions/ and the numbers to docs/lesions/report.json.
 *
 *   node --import tsx scripts/lesion-report.ts [--keep]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../src/config.ts';
import type { ControlTest } from '../src/stats/lesion.ts';
import { startReportServer } from './support/report-server.ts';

const OUT = path.join(PROJECT_ROOT, 'docs', 'lesions');
const KEEP = process.argv.includes('--keep');
const CONTROLS = { random: 20, spatial: 20, seed: 1 };
const DOSES = [1, 2, 5, 10, 20];
const log = (s: string) => process.stderr.write(`${s}\n`);

fs.mkdirSync(OUT, { recursive: true });
const server = await startReportServer('toposcope-lesions-', log);
const { call, json } = server;
const wait = (url: string) => server.waitForJob(url);

async function save(url: string, file: string): Promise<string> {
  fs.writeFileSync(path.join(OUT, file), Buffer.from(await (await call('GET', url)).arrayBuffer()));
  log(`wrote docs/lesions/${file}`);
  return `docs/lesions/${file}`;
}

/** One lesion through the API: the job, its summary in short form, and its figures. */
async function lesion(slug: string, body: Record<string, unknown>) {
  const t0 = Date.now();
  let submitted;
  try {
    submitted = await json('POST', '/v1/lesions', body);
  } catch (e) {
    // A region that does not exist (e.g. no cluster on a flat model) is a result too.
    if ((e as { status?: number }).status === 422) {
      log(`${slug}: refused: ${(e as Error).message}`);
      return { slug, request: body, refused: (e as Error).message };
    }
    throw e;
  }
  const done = await wait(`/v1/lesions/${submitted.id}`);
  const r = done.results;
  const figures: string[] = [];
  for (let d = 0; d < r.doses.length; d++) figures.push(await save(`/v1/lesions/${done.id}/effects.png?dose=${d}`, `${slug}-effects${r.doses.length > 1 ? `-dose${d}` : ''}.png`));
  if (r.doses.length > 1) figures.push(await save(`/v1/lesions/${done.id}/dose-response.png`, `${slug}-dose-response.png`));
  const short = (t: ControlTest) => ({ n: t.n, mean: t.mean, sd: t.sd, z: t.z, p: t.p, values: t.values });
  const measures = r.output.kind === 'lm' ? ['ce', 'ppl'] : ['accuracy', 'logp', 'agreement', 'kl'];
  log(`${slug}: ${done.label} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  return {
    slug,
    id: done.id,
    label: done.label,
    request: body,
    selection: done.params.selection,
    mode: done.params.mode,
    primary: r.primary,
    seconds: (Date.now() - t0) / 1000,
    timings: done.timings,
    figures,
    doses: r.doses.map((d: Record<string, any>, i: number) => ({
      dose: d.dose,
      units: done.doses[i].units,
      unitsPerLayer: done.doses[i].unitsPerLayer,
      sets: d.sets.map((s: Record<string, any>) => ({
        name: s.name,
        intact: s.intact,
        lesion: s.lesion,
        delta: s.delta,
        random: Object.fromEntries(measures.map((m) => [m, short(s.random[m])])),
        spatial: Object.fromEntries(measures.map((m) => [m, short(s.spatial[m])])),
      })),
      specificity: d.specificity ? { measure: d.specificity.measure, delta: d.specificity.delta, random: short(d.specificity.random), spatial: short(d.specificity.spatial) } : null,
    })),
  };
}

const report: Record<string, unknown> = { startedAt: new Date().toISOString(), server: 'node dist/main.js serve (fixtures registered, fresh data folder)', controls: CONTROLS, models: {} };
try {
  for (const [model, a, b] of [
    ['topo-gpt', 'toxic', 'neutral'],
    ['flat-gpt', 'toxic', 'neutral'],
    ['topo-cnn', 'faces', 'objects'],
    ['flat-cnn', 'faces', 'objects'],
  ] as const) {
    log(`── ${model}: ${a} vs ${b}`);
    const submitted = await json('POST', '/v1/contrasts', { model, a, b });
    const c = await wait(`/v1/contrasts/${submitted.id}`);
    const layers = c.layers.map((l: Record<string, any>) => ({ name: l.name, units: l.units, significant: l.significant, significantPositive: l.significantPositive, maxT: l.maxT }));
    const clusters: Record<string, unknown> = {};
    for (const l of c.layers) {
      const t = (await json('GET', `/v1/contrasts/${c.id}/layers/${l.name}/clusters`)) as { params: unknown; clusters: unknown[] };
      clusters[l.name] = { params: t.params, clusters: t.clusters.slice(0, 5), total: t.clusters.length };
    }
    const sets = [a, b];
    const lesions = [
      await lesion(`${model}-top5`, { from: 'top', contrast: c.id, percent: [5], sets, controls: CONTROLS }),
      await lesion(`${model}-largest-cluster`, { from: 'cluster', contrast: c.id, cluster: 'largest', sets, controls: CONTROLS }),
      await lesion(`${model}-top5-mean`, { from: 'top', contrast: c.id, percent: [5], mode: 'mean', sets, controls: CONTROLS }),
      await lesion(`${model}-dose`, { from: 'top', contrast: c.id, percent: DOSES, sets, controls: CONTROLS }),
    ];
    (report.models as Record<string, unknown>)[model] = { contrast: { id: c.id, label: c.label, a, b, layers, clusters }, lesions };
  }
  report.finishedAt = new Date().toISOString();
  fs.writeFileSync(path.join(OUT, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  log('wrote docs/lesions/report.json');
} finally {
  await server.close(KEEP);
}
