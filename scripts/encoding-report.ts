/**
 * The results of docs/encoding.md, computed through the service (the real app, in-process, over its
 * HTTP routes) on the bundled fixtures: the toxic region of topo-gpt (top corpus sentences, split-half
 * profile), the face region of topo-cnn (top held-out images, split-half profile over the fLoc domains),
 * selectivity across batteries for topographic vs flat twins, and the generalisation test (written ↔
 * corpus toxic sentences). Writes figures to docs/encoding/ and the numbers to docs/encoding/report.json.
 *
 *   node --import tsx scripts/encoding-report.ts [--data DIR]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { loadConfig, PROJECT_ROOT } from '../src/config.ts';
import { buildApp } from '../src/http/app.ts';
import { registerFixtures } from '../src/usecases/fixtures.ts';
import { closeService, openService } from '../src/usecases/service.ts';

const OUT = path.join(PROJECT_ROOT, 'docs', 'encoding');
const STIM = path.join(PROJECT_ROOT, 'fixtures', 'stimuli');
fs.mkdirSync(OUT, { recursive: true });
const dataArg = process.argv.indexOf('--data');
const dataDir = dataArg > 0 ? path.resolve(process.argv[dataArg + 1]) : fs.mkdtempSync(path.join(os.tmpdir(), 'toposcope-encoding-'));

const service = openService(loadConfig(process.env, { dataDir, registerFixtures: true }));
const app = await buildApp(service);
await app.ready();
const report: Record<string, unknown> = { dataDir, startedAt: new Date().toISOString() };
const log = (s: string) => process.stderr.write(`${s}\n`);

async function call(method: 'GET' | 'POST', url: string, payload?: object, ok = [200, 201, 202]) {
  const r = await app.inject({ method, url, payload });
  if (!ok.includes(r.statusCode)) throw new Error(`${method} ${url}: ${r.statusCode} ${r.body.slice(0, 500)}`);
  return r;
}
const json = async (method: 'GET' | 'POST', url: string, payload?: object) => (await call(method, url, payload)).json();
async function wait(url: string) {
  for (;;) {
    const b = await json('GET', url);
    if (b.state !== 'queued' && b.state !== 'running') {
      if (b.state !== 'succeeded') throw new Error(`${url}: ${b.state} ${b.error}`);
      return b;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
async function contrast(payload: object) {
  const c = await json('POST', '/v1/contrasts', payload);
  await wait(`/v1/contrasts/${c.id}`);
  return c.id as string;
}
async function save(url: string, file: string) {
  fs.writeFileSync(path.join(OUT, file), (await call('GET', url)).rawPayload);
  log(`wrote docs/encoding/${file}`);
}

try {
  const fx = await registerFixtures(service.ctx);
  if (fx.errors.length) throw new Error(fx.errors.join('; '));
  const setId = (name: string) => fx.sets.find((s) => s.name === name)!.id;

  // ── topo-gpt: the toxic region ──────────────────────────────────────────────────────────────────
  log('topo-gpt toxic vs neutral');
  const toxic = await contrast({ model: 'topo-gpt', a: 'toxic', b: 'neutral', layers: ['mlp0'] });
  const toxicMask = (await json('POST', '/v1/masks', { name: 'toxic (mlp0 top 2%)', kind: 'top-percent', contrast: toxic, layers: ['mlp0'], percent: 2 })).mask;
  const ts = await json('POST', '/v1/top-stimuli', { region: { kind: 'mask', mask: toxicMask.id }, sets: 'corpus', k: 10, bottomK: 10, quantiles: 10, perQuantile: 3 });
  const tsDone = await wait(`/v1/top-stimuli/${ts.id}`);
  await save(`/v1/top-stimuli/${ts.id}/histogram.png`, 'topo-gpt-toxic-corpus-histogram.png');
  const sources = JSON.parse(fs.readFileSync(path.join(STIM, 'text', 'corpus.sources.json'), 'utf8')) as { source: string; words: number; afinnSum: number; afinnMean: number }[];
  const corpusLines = fs.readFileSync(path.join(STIM, 'text', 'corpus.txt'), 'utf8').split('\n').filter((l) => l.trim());
  const withSource = (e: { position: number; text: string; value: number; tokens?: { tokens: string[]; values: number[] } }) => {
    if (corpusLines[e.position].trim() !== e.text.trim()) throw new Error(`corpus line ${e.position} does not match its sources.json row`);
    const s = sources[e.position];
    let peak = -1;
    if (e.tokens) e.tokens.values.forEach((v, i) => (peak < 0 || v > e.tokens!.values[peak] ? (peak = i) : 0));
    return { position: e.position, value: e.value, text: e.text, source: s.source, words: s.words, afinnSum: s.afinnSum, afinnMean: s.afinnMean, peakToken: peak >= 0 ? e.tokens!.tokens[peak] : null, peakValue: peak >= 0 ? e.tokens!.values[peak] : null, tokens: e.tokens };
  };
  report.toxicRegion = {
    contrast: toxic,
    mask: { id: toxicMask.id, units: toxicMask.layers },
    topStimuli: ts.id,
    n: tsDone.result.n,
    mean: tsDone.result.mean,
    tokenCheck: tsDone.result.tokenCheck,
    timings: tsDone.timings,
    top: tsDone.result.top.map(withSource),
    bottom: tsDone.result.bottom.map(withSource),
    quantiles: tsDone.result.quantiles.map((q: { fromQuantile: number; toQuantile: number; lo: number; hi: number; count: number; examples: never[] }) => ({ ...q, examples: q.examples.map(withSource) })),
  };
  await save(`/v1/top-stimuli/${ts.id}/tokens.png?n=10`, 'topo-gpt-toxic-corpus-tokens.png');
  // Which tokens drive the region inside the toxic localizer sentences themselves.
  const tt = await json('POST', '/v1/top-stimuli', { region: { kind: 'mask', mask: toxicMask.id }, sets: 'toxic', k: 10, bottomK: 10, quantiles: 4, perQuantile: 0 });
  const ttDone = await wait(`/v1/top-stimuli/${tt.id}`);
  await save(`/v1/top-stimuli/${tt.id}/tokens.png?n=10`, 'topo-gpt-toxic-on-toxic-tokens.png');
  const peakOf = (e: { tokens?: { tokens: string[]; values: number[] } }) => {
    if (!e.tokens) return null;
    let j = 0;
    e.tokens.values.forEach((v, i) => (v > e.tokens!.values[j] ? (j = i) : 0));
    return { token: e.tokens.tokens[j], value: e.tokens.values[j], continuation: e.tokens.tokens[j].startsWith('##'), tokens: e.tokens.tokens.length, continuationTokens: e.tokens.tokens.filter((x) => x.startsWith('##')).length };
  };
  (report.toxicRegion as Record<string, unknown>).onToxicSet = {
    id: tt.id,
    top: ttDone.result.top.map((e: { value: number; text: string; tokens?: { tokens: string[]; values: number[] } }) => ({ value: e.value, text: e.text, peak: peakOf(e) })),
    bottom: ttDone.result.bottom.map((e: { value: number; text: string; tokens?: { tokens: string[]; values: number[] } }) => ({ value: e.value, text: e.text, peak: peakOf(e) })),
  };
  (report.toxicRegion as Record<string, unknown>).corpusPeaks = tsDone.result.top.map(peakOf);
  log('topo-gpt toxic split-half profile');
  const pf = await json('POST', '/v1/profiles', { model: 'topo-gpt', localizer: { a: 'toxic', b: 'neutral', layers: ['mlp0'], percent: 2 }, measure: ['toxic', 'neutral', 'sentences', 'nonwords'], splits: 10, resamples: 2000, seed: 1 });
  const pfDone = await wait(`/v1/profiles/${pf.id}`);
  await save(`/v1/profiles/${pf.id}/profile.png`, 'topo-gpt-toxic-profile.png');
  report.toxicProfile = { id: pf.id, result: pfDone.result };
  // The same on the flat twin, for comparison.
  const pfFlat = await json('POST', '/v1/profiles', { model: 'flat-gpt', localizer: { a: 'toxic', b: 'neutral', layers: ['mlp0'], percent: 2 }, measure: ['toxic', 'neutral', 'sentences', 'nonwords'], splits: 10, resamples: 2000, seed: 1 });
  report.toxicProfileFlat = { id: pfFlat.id, result: (await wait(`/v1/profiles/${pfFlat.id}`)).result };
  await save(`/v1/profiles/${pfFlat.id}/profile.png`, 'flat-gpt-toxic-profile.png');

  // ── topo-cnn: the face region ───────────────────────────────────────────────────────────────────
  log('topo-cnn faces vs rest');
  const rest = ['bodies', 'places', 'characters', 'objects'];
  const faces = await contrast({ model: 'topo-cnn', a: 'faces', b: rest, layers: ['conv4'] });
  const faceMask = (await json('POST', '/v1/masks', { name: 'faces (conv4 top 5%)', kind: 'top-percent', contrast: faces, layers: ['conv4'], percent: 5 })).mask;
  const tf = await json('POST', '/v1/top-stimuli', { region: { kind: 'mask', mask: faceMask.id }, sets: 'heldout', k: 10, bottomK: 10, quantiles: 10, perQuantile: 3 });
  const tfDone = await wait(`/v1/top-stimuli/${tf.id}`);
  await save(`/v1/top-stimuli/${tf.id}/histogram.png`, 'topo-cnn-face-heldout-histogram.png');
  const labels = JSON.parse(fs.readFileSync(path.join(STIM, 'images', 'heldout', 'labels.json'), 'utf8')) as Record<string, string>;
  const imgRow = (e: { label: string; value: number; set: string; position: number }) => ({ label: e.label, class: labels[e.label] ?? null, value: e.value, set: e.set, position: e.position });
  const strip = async (examples: { set: string; position: number; value: number }[], file: string) => {
    const tiles = await Promise.all(
      examples.map(async (e) =>
        sharp((await call('GET', `/v1/stimulus-sets/${e.set}/items/${e.position}`)).rawPayload)
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
  await strip(tfDone.result.top, 'topo-cnn-face-top10.png');
  await strip(tfDone.result.bottom, 'topo-cnn-face-bottom10.png');
  report.faceRegion = {
    contrast: faces,
    mask: { id: faceMask.id, units: faceMask.layers },
    topStimuli: tf.id,
    n: tfDone.result.n,
    mean: tfDone.result.mean,
    top: tfDone.result.top.map(imgRow),
    bottom: tfDone.result.bottom.map(imgRow),
    quantiles: tfDone.result.quantiles.map((q: { fromQuantile: number; toQuantile: number; lo: number; hi: number; count: number; examples: never[] }) => ({ ...q, examples: q.examples.map(imgRow) })),
  };
  const classCount = (rows: { class: string | null }[]) => rows.reduce<Record<string, number>>((m, r) => ((m[r.class ?? '?'] = (m[r.class ?? '?'] ?? 0) + 1), m), {});
  (report.faceRegion as Record<string, unknown>).topClasses = classCount((report.faceRegion as { top: { class: string | null }[] }).top);
  log('topo-cnn face split-half profile');
  const domains = ['faces', ...rest];
  const pc = await json('POST', '/v1/profiles', { model: 'topo-cnn', localizer: { a: 'faces', b: rest, layers: ['conv4'], percent: 5 }, measure: domains, splits: 10, resamples: 2000, seed: 1 });
  report.faceProfile = { id: pc.id, result: (await wait(`/v1/profiles/${pc.id}`)).result };
  await save(`/v1/profiles/${pc.id}/profile.png`, 'topo-cnn-face-profile.png');
  const pcFlat = await json('POST', '/v1/profiles', { model: 'flat-cnn', localizer: { a: 'faces', b: rest, layers: ['conv4'], percent: 5 }, measure: domains, splits: 10, resamples: 2000, seed: 1 });
  report.faceProfileFlat = { id: pcFlat.id, result: (await wait(`/v1/profiles/${pcFlat.id}`)).result };
  await save(`/v1/profiles/${pcFlat.id}/profile.png`, 'flat-cnn-face-profile.png');

  // ── selectivity: topographic vs flat ────────────────────────────────────────────────────────────
  const selectivity: Record<string, unknown> = {};
  for (const [model, cats] of [
    ['topo-cnn', domains],
    ['flat-cnn', domains],
    ['topo-gpt', ['toxic', 'neutral', 'sentences', 'nonwords']],
    ['flat-gpt', ['toxic', 'neutral', 'sentences', 'nonwords']],
  ] as const) {
    log(`battery ${model}`);
    const b = await json('POST', '/v1/batteries', { model, categories: cats, analysis: { topography: { permutations: 99 } } });
    for (const c of b.contrasts) await wait(`/v1/contrasts/${c.id}`);
    selectivity[model] = await json('POST', '/v1/selectivity', { battery: b.id, threshold: 0.5 });
  }
  report.selectivity = selectivity;
  const sid = (m: string) => (selectivity[m] as { id: string }).id;
  for (const m of ['topo-cnn', 'flat-cnn']) {
    await save(`/v1/selectivity/${sid(m)}/layers/conv4/map.png?stat=preferred`, `${m}-conv4-preferred.png`);
    await save(`/v1/selectivity/${sid(m)}/layers/conv4/map.png?stat=sparseness`, `${m}-conv4-sparseness.png`);
  }
  for (const m of ['topo-gpt', 'flat-gpt']) await save(`/v1/selectivity/${sid(m)}/layers/mlp0/map.png?stat=preferred`, `${m}-mlp0-preferred.png`);
  for (const metric of ['si', 'sparseness', 'n-above', 'agreement']) {
    await save(`/v1/selectivity/compare.png?ids=${sid('topo-cnn')},${sid('flat-cnn')}&metric=${metric}`, `cnn-compare-${metric}.png`);
    await save(`/v1/selectivity/compare.png?ids=${sid('topo-gpt')},${sid('flat-gpt')}&metric=${metric}`, `gpt-compare-${metric}.png`);
  }

  // ── generalisation: written ↔ corpus toxic sentences ────────────────────────────────────────────
  const gen: Record<string, unknown> = {};
  for (const [name, defA, defB, testA, testB] of [
    ['written → corpus', 'toxic-written', 'neutral-written-match', 'toxic-corpus', 'neutral-corpus-match'],
    ['corpus → written', 'toxic-corpus', 'neutral-corpus-match', 'toxic-written', 'neutral-written-match'],
  ] as const) {
    log(`generalisation ${name}`);
    const c = await contrast({ model: 'topo-gpt', a: defA, b: defB, layers: ['mlp0'] });
    const m = (await json('POST', '/v1/masks', { name: `${defA} (mlp0 top 2%)`, kind: 'top-percent', contrast: c, layers: ['mlp0'], percent: 2 })).mask;
    const p = await json('POST', '/v1/profiles', { mask: m.id, measure: [testA, testB, defA, defB], effect: { a: testA, b: testB }, resamples: 2000, seed: 1 });
    const pd = await wait(`/v1/profiles/${p.id}`);
    // In-sample (circular) effect on the definition sets, for comparison only: a split-half within them.
    const within = await json('POST', '/v1/profiles', { model: 'topo-gpt', localizer: { a: defA, b: defB, layers: ['mlp0'], percent: 2 }, measure: [defA, defB], effect: { a: defA, b: defB }, splits: 10, resamples: 2000, seed: 1 });
    const wd = await wait(`/v1/profiles/${within.id}`);
    const t = await json('POST', '/v1/top-stimuli', { region: { kind: 'mask', mask: m.id }, sets: 'corpus', k: 50, bottomK: 50, quantiles: 10, perQuantile: 0, tokens: false });
    const td = await wait(`/v1/top-stimuli/${t.id}`);
    const slug = name.startsWith('written') ? 'written-to-corpus' : 'corpus-to-written';
    await save(`/v1/profiles/${p.id}/profile.png`, `generalisation-${slug}.png`);
    const val = (list: { position: number }[]) => {
      const rows = list.map((e) => sources[e.position]);
      const mean = (f: (r: (typeof rows)[number]) => number) => rows.reduce((s, r) => s + f(r), 0) / rows.length;
      return { n: rows.length, afinnMean: mean((r) => r.afinnMean), afinnSum: mean((r) => r.afinnSum), negative: rows.filter((r) => r.afinnSum < 0).length / rows.length, words: mean((r) => r.words), sources: rows.reduce<Record<string, number>>((a, r) => ((a[r.source] = (a[r.source] ?? 0) + 1), a), {}) };
    };
    gen[name] = {
      contrast: c,
      mask: { id: m.id, units: m.layers },
      heldOut: pd.result,
      withinSplitHalf: wd.result,
      topStimuli: t.id,
      top10: val(td.result.top.slice(0, 10)),
      top50: val(td.result.top),
      bottom50: val(td.result.bottom),
      top10Texts: td.result.top.slice(0, 10).map((e: { position: number; text: string; value: number }) => ({ position: e.position, value: e.value, text: e.text, ...sources[e.position] })),
    };
  }
  const all = { n: sources.length, afinnMean: sources.reduce((s, r) => s + r.afinnMean, 0) / sources.length, afinnSum: sources.reduce((s, r) => s + r.afinnSum, 0) / sources.length, negative: sources.filter((r) => r.afinnSum < 0).length / sources.length, words: sources.reduce((s, r) => s + r.words, 0) / sources.length };
  gen.corpus = all;
  const wordsOf = (set: string) => {
    const l = fs.readFileSync(path.join(STIM, 'text', `${set}.txt`), 'utf8').split('\n').filter((x) => x.trim());
    return l.reduce((s, x) => s + x.trim().split(/\s+/).length, 0) / l.length;
  };
  gen.meanWords = Object.fromEntries(['toxic-written', 'neutral-written-match', 'toxic-corpus', 'neutral-corpus-match'].map((s) => [s, wordsOf(s)]));
  // The toxic region's top corpus stimuli on the same valence scale.
  gen.toxicRegionTop10 = (() => {
    const rows = (report.toxicRegion as { top: { afinnMean: number; afinnSum: number; words: number }[] }).top;
    return { afinnMean: rows.reduce((s, r) => s + r.afinnMean, 0) / rows.length, negative: rows.filter((r) => r.afinnSum < 0).length / rows.length, words: rows.reduce((s, r) => s + r.words, 0) / rows.length };
  })();
  report.generalisation = gen;
  report.finishedAt = new Date().toISOString();
  fs.writeFileSync(path.join(OUT, 'report.json'), JSON.stringify(report, null, 2));
  log('wrote docs/encoding/report.json');
  void setId;
} finally {
  await app.close();
  await closeService(service);
  if (dataArg < 0) fs.rmSync(dataDir, { recursive: true, force: true });
}
