/**
 * The results of docs/encoding.md, computed by the real server (`node dist/main.js serve`, fixtures
 * registered, a fresh data folder) through its HTTP API: the toxic region of topo-gpt (top corpus
 * sentences, split-half profile), the face region of topo-cnn (top held-out images, split-half profile
 * over the fLoc domains), selectivity across batteries for the topographic and the flat twins, and the
 * generalisation test (written ↔ corpus toxic sentences). Figures the service drew go to docs/encoding/,
 * the numbers to docs/encoding/report.json.
 *
 *   npm run build && node --import tsx scripts/encoding-report.ts [--keep]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { PROJECT_ROOT } from '../src/config.ts';
import { startReportServer } from './support/report-server.ts';

const OUT = path.join(PROJECT_ROOT, 'docs', 'encoding');
const TEXT = path.join(PROJECT_ROOT, 'fixtures', 'stimuli', 'text');
const keep = process.argv.includes('--keep');
const log = (s: string) => process.stderr.write(`${s}\n`);

fs.mkdirSync(OUT, { recursive: true });
const server = await startReportServer('toposcope-encoding-', log);
/** API bodies as they come (the report only reads fields the routes document). */
type Json = any;
const report: Record<string, Json> = { startedAt: new Date().toISOString(), server: 'node dist/main.js serve', machine: { cpus: os.availableParallelism(), load: os.loadavg() } };

const call = server.call;
const get = (url: string): Promise<Json> => server.json('GET', url);
const post = (url: string, body: object): Promise<Json> => server.json('POST', url, body);
const done = (url: string): Promise<Json> => server.waitForJob(url);
async function contrast(body: object): Promise<string> {
  const c = await post('/v1/contrasts', body);
  await done(`/v1/contrasts/${c.id}`);
  return c.id;
}
async function topMask(contrastId: string, layer: string, percent: number, name: string): Promise<Json> {
  return (await post('/v1/masks', { name, kind: 'top-percent', contrast: contrastId, layers: [layer], percent })).mask;
}
async function save(url: string, file: string): Promise<void> {
  fs.writeFileSync(path.join(OUT, file), Buffer.from(await (await call('GET', url)).arrayBuffer()));
  log(`wrote docs/encoding/${file}`);
}
/** A profile job: submitted, waited for, its figure saved. */
async function profile(body: object, file: string): Promise<{ id: string; result: Json }> {
  const p = await post('/v1/profiles', body);
  const { result } = await done(`/v1/profiles/${p.id}`);
  await save(`/v1/profiles/${p.id}/profile.png`, file);
  return { id: p.id, result };
}
/** Every item of a set, through the paged items route. */
async function items(set: string): Promise<Json[]> {
  const all: Json[] = [];
  for (;;) {
    const p = await get(`/v1/stimulus-sets/${encodeURIComponent(set)}/items?limit=500&offset=${all.length}`);
    all.push(...p.items);
    if (all.length >= p.total || p.items.length === 0) return all;
  }
}
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
function peakToken(e: { tokens?: { tokens: string[]; values: number[] } }) {
  if (!e.tokens || !e.tokens.values.length) return null;
  let j = 0;
  e.tokens.values.forEach((v, i) => (v > e.tokens!.values[j] ? (j = i) : 0));
  return { token: e.tokens.tokens[j], value: e.tokens.values[j], at: j, of: e.tokens.tokens.length };
}

try {
  // ── the corpus and its per-sentence metadata (source, AFINN valence) from the fixture recipe ─────────
  const sources = JSON.parse(fs.readFileSync(path.join(TEXT, 'corpus.sources.json'), 'utf8')) as { source: string; words: number; tokens: number; afinnSum: number; afinnRated: number; afinnMean: number }[];
  const corpus = await items('corpus');
  if (corpus.length !== sources.length) throw new Error(`corpus: ${corpus.length} items vs ${sources.length} rows of corpus.sources.json`);
  const valence = (positions: number[]) => {
    const rows = positions.map((p) => sources[p]);
    return {
      n: rows.length,
      afinnMean: mean(rows.map((r) => r.afinnMean)),
      afinnSum: mean(rows.map((r) => r.afinnSum)),
      negativeFraction: rows.filter((r) => r.afinnSum < 0).length / rows.length,
      positiveFraction: rows.filter((r) => r.afinnSum > 0).length / rows.length,
      words: mean(rows.map((r) => r.words)),
      sources: rows.reduce<Record<string, number>>((m, r) => ((m[r.source] = (m[r.source] ?? 0) + 1), m), {}),
    };
  };
  report.corpus = valence(sources.map((_, i) => i));
  const corpusRow = (e: Json) => ({ position: e.position, value: e.value, text: e.text, ...sources[e.position], peak: peakToken(e) });

  // ── topo-gpt: the toxic region ───────────────────────────────────────────────────────────────────
  log('topo-gpt: toxic vs neutral, mask, top corpus sentences');
  const toxic = await contrast({ model: 'topo-gpt', a: 'toxic', b: 'neutral', layers: ['mlp0'] });
  const toxicMask = await topMask(toxic, 'mlp0', 2, 'toxic (mlp0 top 2%)');
  const ts = await post('/v1/top-stimuli', { region: { kind: 'mask', mask: toxicMask.id }, sets: 'corpus', k: 10, bottomK: 10, quantiles: 10, perQuantile: 3 });
  const tsR = (await done(`/v1/top-stimuli/${ts.id}`)).result;
  for (const e of tsR.top) if (corpus[e.position].text !== e.text) throw new Error(`corpus item ${e.position} differs from its top-stimuli text`);
  await save(`/v1/top-stimuli/${ts.id}/histogram.png`, 'topo-gpt-toxic-corpus-histogram.png');
  await save(`/v1/top-stimuli/${ts.id}/tokens.png?n=10`, 'topo-gpt-toxic-corpus-tokens.png');
  const tt = await post('/v1/top-stimuli', { region: { kind: 'mask', mask: toxicMask.id }, sets: 'toxic', k: 10, bottomK: 10, quantiles: 4, perQuantile: 0 });
  const ttR = (await done(`/v1/top-stimuli/${tt.id}`)).result;
  await save(`/v1/top-stimuli/${tt.id}/tokens.png?n=10`, 'topo-gpt-toxic-on-toxic-tokens.png');
  log('topo-gpt: split-half profile of the toxic region');
  const measureText = ['toxic', 'neutral', 'sentences', 'nonwords'];
  const profileReq = (model: string) => ({ model, localizer: { a: 'toxic', b: 'neutral', layers: ['mlp0'], percent: 2 }, measure: measureText, effect: { a: 'toxic', b: 'neutral' }, splits: 10, resamples: 2000, seed: 1 });
  const pf = await profile(profileReq('topo-gpt'), 'topo-gpt-toxic-profile.png');
  const pfFlat = await profile(profileReq('flat-gpt'), 'flat-gpt-toxic-profile.png');
  report.toxicRegion = {
    contrast: toxic,
    mask: { id: toxicMask.id, layers: toxicMask.layers, nUnits: toxicMask.nUnits },
    topStimuli: { id: ts.id, n: tsR.n, mean: tsR.mean, tokenCheck: tsR.tokenCheck, top: tsR.top.map(corpusRow), bottom: tsR.bottom.map(corpusRow), top10Valence: valence(tsR.top.map((e: Json) => e.position)) },
    onToxicSet: { id: tt.id, top: ttR.top.map((e: Json) => ({ value: e.value, text: e.text, peak: peakToken(e) })), bottom: ttR.bottom.map((e: Json) => ({ value: e.value, text: e.text, peak: peakToken(e) })) },
    profile: pf,
    profileFlat: pfFlat,
  };

  // ── topo-cnn: the face region ────────────────────────────────────────────────────────────────────
  log('topo-cnn: faces vs the other domains, mask, top held-out images');
  const domains = ['faces', 'bodies', 'places', 'characters', 'objects'];
  const rest = domains.slice(1);
  // A held-out render's domain: the fLoc set whose items carry its class label (else 'other').
  const domainOfClass = new Map<string, string>();
  for (const d of domains) for (const it of await items(d)) if (it.classLabel) domainOfClass.set(it.classLabel, d);
  const heldout = await items('heldout');
  const heldoutDomains = heldout.reduce<Record<string, number>>((m, it) => ((m[domainOfClass.get(it.classLabel) ?? 'other'] = (m[domainOfClass.get(it.classLabel) ?? 'other'] ?? 0) + 1), m), {});
  const imgRow = (e: Json) => ({ position: e.position, label: e.label, class: heldout[e.position].classLabel, domain: domainOfClass.get(heldout[e.position].classLabel) ?? 'other', value: e.value });
  const faces = await contrast({ model: 'topo-cnn', a: 'faces', b: rest, layers: ['conv4'] });
  const faceMask = await topMask(faces, 'conv4', 5, 'faces (conv4 top 5%)');
  const tf = await post('/v1/top-stimuli', { region: { kind: 'mask', mask: faceMask.id }, sets: 'heldout', k: 10, bottomK: 10, quantiles: 10, perQuantile: 3 });
  const tfR = (await done(`/v1/top-stimuli/${tf.id}`)).result;
  await save(`/v1/top-stimuli/${tf.id}/histogram.png`, 'topo-cnn-face-heldout-histogram.png');
  // A strip of the items as the service stores them (GET …/items/:position), for the docs.
  const strip = async (examples: Json[], file: string) => {
    const tiles = await Promise.all(
      examples.map(async (e: Json) =>
        sharp(Buffer.from(await (await call('GET', `/v1/stimulus-sets/${e.set}/items/${e.position}`)).arrayBuffer()))
          .flatten({ background: '#ffffff' })
          .resize(96, 96, { fit: 'contain', background: '#ffffff' })
          .png()
          .toBuffer(),
      ),
    );
    const img = sharp({ create: { width: 100 * tiles.length, height: 100, channels: 3, background: '#ffffff' } }).composite(tiles.map((t, i) => ({ input: t, left: 100 * i + 2, top: 2 })));
    fs.writeFileSync(path.join(OUT, file), await img.png().toBuffer());
    log(`wrote docs/encoding/${file}`);
  };
  await strip(tfR.top, 'topo-cnn-face-top10.png');
  await strip(tfR.bottom, 'topo-cnn-face-bottom10.png');
  log('topo-cnn: split-half profile of the face region');
  const imgProfile = (model: string) => ({ model, localizer: { a: 'faces', b: rest, layers: ['conv4'], percent: 5 }, measure: domains, effect: { a: 'faces', b: 'objects' }, splits: 10, resamples: 2000, seed: 1 });
  const pc = await profile(imgProfile('topo-cnn'), 'topo-cnn-face-profile.png');
  const pcFlat = await profile(imgProfile('flat-cnn'), 'flat-cnn-face-profile.png');
  const top = tfR.top.map(imgRow);
  report.faceRegion = {
    contrast: faces,
    mask: { id: faceMask.id, layers: faceMask.layers, nUnits: faceMask.nUnits },
    heldoutDomains,
    topStimuli: { id: tf.id, n: tfR.n, mean: tfR.mean, top, bottom: tfR.bottom.map(imgRow), topDomains: top.reduce((m: Record<string, number>, r: Json) => ((m[r.domain] = (m[r.domain] ?? 0) + 1), m), {}) },
    profile: pc,
    profileFlat: pcFlat,
  };

  // ── selectivity across a battery: topographic vs flat ────────────────────────────────────────────
  const selectivity: Record<string, Json> = {};
  for (const [model, cats] of [
    ['topo-cnn', domains],
    ['flat-cnn', domains],
    ['topo-gpt', measureText],
    ['flat-gpt', measureText],
  ] as const) {
    log(`selectivity: battery of ${cats.join(', ')} on ${model}`);
    const b = await post('/v1/batteries', { model, categories: cats, analysis: { topography: { permutations: 99 } } });
    for (const c of b.contrasts) await done(`/v1/contrasts/${c.id}`);
    const sel = await post('/v1/selectivity', { battery: b.id, threshold: 0.5 });
    // Per layer, beside the stored summary: the distribution of each unit's largest d′ (from the per-unit arrays).
    const layers = [];
    for (const l of sel.layers) {
      const u = await get(`/v1/selectivity/${sel.id}/layers/${l.layer}`);
      const md = (u.maxDprime as (number | null)[]).filter((x): x is number => x !== null).sort((x, y) => x - y);
      layers.push({ ...l, meanMaxDprime: mean(md), medianMaxDprime: md[Math.floor(md.length / 2)] });
    }
    selectivity[model] = { id: sel.id, battery: b.id, categories: sel.categories, threshold: sel.threshold, layers };
  }
  report.selectivity = selectivity;
  const sid = (m: string) => selectivity[m].id;
  for (const m of ['topo-cnn', 'flat-cnn']) {
    await save(`/v1/selectivity/${sid(m)}/layers/conv4/map.png?stat=preferred`, `${m}-conv4-preferred.png`);
    await save(`/v1/selectivity/${sid(m)}/layers/conv4/map.png?stat=sparseness`, `${m}-conv4-sparseness.png`);
  }
  for (const m of ['topo-gpt', 'flat-gpt']) await save(`/v1/selectivity/${sid(m)}/layers/mlp0/map.png?stat=preferred`, `${m}-mlp0-preferred.png`);
  for (const metric of ['si', 'sparseness', 'n-above', 'agreement']) {
    await save(`/v1/selectivity/compare.png?ids=${sid('topo-cnn')},${sid('flat-cnn')}&metric=${metric}`, `cnn-compare-${metric}.png`);
    await save(`/v1/selectivity/compare.png?ids=${sid('topo-gpt')},${sid('flat-gpt')}&metric=${metric}`, `gpt-compare-${metric}.png`);
  }

  // ── generalisation: written ↔ corpus toxic sentences ─────────────────────────────────────────────
  const gen: Record<string, Json> = {};
  for (const [slug, defA, defB, testA, testB] of [
    ['written-to-corpus', 'toxic-written', 'neutral-written-match', 'toxic-corpus', 'neutral-corpus-match'],
    ['corpus-to-written', 'toxic-corpus', 'neutral-corpus-match', 'toxic-written', 'neutral-written-match'],
  ] as const) {
    log(`generalisation ${slug}`);
    const c = await contrast({ model: 'topo-gpt', a: defA, b: defB, layers: ['mlp0'] });
    const m = await topMask(c, 'mlp0', 2, `${defA} (mlp0 top 2%)`);
    // Held out: the mask (defined on defA vs defB) measured on the other origin's sentences only.
    const heldOut = await profile({ mask: m.id, measure: [testA, testB], effect: { a: testA, b: testB }, resamples: 2000, seed: 1 }, `generalisation-${slug}.png`);
    // Within the defining origin, cross-validated (split-half), for comparison.
    const w = await post('/v1/profiles', { model: 'topo-gpt', localizer: { a: defA, b: defB, layers: ['mlp0'], percent: 2 }, measure: [defA, defB], effect: { a: defA, b: defB }, splits: 10, resamples: 2000, seed: 1 });
    const wR = (await done(`/v1/profiles/${w.id}`)).result;
    const t = await post('/v1/top-stimuli', { region: { kind: 'mask', mask: m.id }, sets: 'corpus', k: 50, bottomK: 50, quantiles: 10, perQuantile: 0, tokens: false });
    const tR = (await done(`/v1/top-stimuli/${t.id}`)).result;
    const pos = (l: Json[]) => l.map((e: Json) => e.position);
    gen[slug] = {
      define: [defA, defB],
      test: [testA, testB],
      contrast: c,
      mask: { id: m.id, layers: m.layers, nUnits: m.nUnits },
      heldOut,
      withinSplitHalf: { id: w.id, result: wR },
      topStimuli: t.id,
      top10: valence(pos(tR.top.slice(0, 10))),
      top50: valence(pos(tR.top)),
      bottom50: valence(pos(tR.bottom)),
      top10Texts: tR.top.slice(0, 10).map(corpusRow),
    };
  }
  report.generalisation = gen;
  report.finishedAt = new Date().toISOString();
  report.machine.loadAtEnd = os.loadavg();
  fs.writeFileSync(path.join(OUT, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  log('wrote docs/encoding/report.json');
} finally {
  await server.close(keep);
}
