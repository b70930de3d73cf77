/**
 * The selection panel's lesion section in a real headless Chromium against the real server (topo-cnn,
 * faces vs objects on conv4): lesion the selected cluster with a few random and spatial controls from
 * the form, follow the job to its end, read the table against the API's result (Δ, the controls' mean
 * ± sd, z and p per set, the specificity), change the measure, open the deep link, then a dose-response
 * (top 2 and 5 % of the layer) with its uPlot chart. Screenshots go to tests/web/__screenshots__/ (with
 * TOPOSCOPE_DOCS_SCREENSHOTS=1 also docs/viewer/lesion.png).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { PROJECT_ROOT } from '../../src/config.ts';
import { fmt, fmtP } from '../../web/src/format.ts';
import type { ControlTest, Lesion, LesionDose } from '../../web/src/types.ts';
import { openViewer, SCREENSHOTS, type Viewer } from './server.ts';

let v: Viewer;
let page: Page;
let contrastId: string;
let cluster: { id: number; size: number };

/** The lesion section alone, in a viewport tall enough that the fixed top bar does not cover it. */
async function shot(name: string, docs = false): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const size = page.viewportSize()!;
  await page.setViewportSize({ width: size.width, height: 3000 });
  try {
    await page.getByTestId('lesion-effects').evaluate((el: HTMLImageElement) => (el.complete ? null : new Promise((r) => (el.onload = r))));
    const buf = await page.getByTestId('lesion').screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
    if (docs && process.env.TOPOSCOPE_DOCS_SCREENSHOTS === '1') fs.writeFileSync(path.join(PROJECT_ROOT, 'docs', 'viewer', `${name}.png`), buf);
  } finally {
    await page.setViewportSize(size);
  }
}

/** The texts the table shows for a control test: mean ± sd, z, p. */
const cells = (t: ControlTest) => [t.n ? `${fmt(t.mean, 3)} ± ${fmt(t.sd, 3)}` : '–', fmt(t.z, 2), fmtP(t.p)];

/** Every row of the lesion table as shown, and as the API's dose gives it, for one measure. */
async function tableAgainstApi(dose: LesionDose, measure: string): Promise<void> {
  const rows = page.getByTestId('lesion-row');
  expect(await rows.count()).toBe(dose.sets.length);
  for (let i = 0; i < dose.sets.length; i++) {
    const s = dose.sets[i];
    const row = rows.nth(i);
    expect(await row.getByTestId('lesion-set').textContent()).toBe(s.name);
    expect(await row.getByTestId('lesion-delta').textContent()).toBe(fmt(s.delta[measure], 4));
    for (const role of ['random', 'spatial'] as const) {
      const shown = await Promise.all(['mean', 'z', 'p'].map((k) => row.getByTestId(`lesion-${role}-${k}`).textContent()));
      expect(shown).toEqual(cells(s[role][measure]));
    }
  }
  const sp = page.getByTestId('lesion-specificity');
  if (dose.specificity && dose.specificity.measure === measure) {
    expect(await sp.getByTestId('lesion-delta').textContent()).toBe(fmt(dose.specificity.delta, 4));
    expect(await Promise.all(['mean', 'z', 'p'].map((k) => sp.getByTestId(`lesion-random-${k}`).textContent()))).toEqual(cells(dose.specificity.random));
    expect(await Promise.all(['mean', 'z', 'p'].map((k) => sp.getByTestId(`lesion-spatial-${k}`).textContent()))).toEqual(cells(dose.specificity.spatial));
  } else {
    expect(await sp.count()).toBe(0);
  }
}

const lesionOfUrl = () => new URL(page.url()).searchParams.get('lesion');

describe('selection panel: lesions', () => {
  beforeAll(async () => {
    v = await openViewer();
    page = v.page;
    contrastId = (await v.api<{ id: string }>('POST', '/v1/contrasts', { model: 'topo-cnn', a: 'faces', b: 'objects', layers: ['conv4'], analysis: { topography: { permutations: 19 } } })).id;
    await v.waitForJob(`/v1/contrasts/${contrastId}`);
    const table = await v.api<{ clusters: { id: number; size: number; sign: number }[] }>('GET', `/v1/contrasts/${contrastId}/layers/conv4/clusters`);
    cluster = table.clusters.filter((k) => k.sign > 0).sort((a, b) => b.size - a.size)[0];
    expect(cluster?.size ?? 0, 'topo-cnn conv4 has a faces > objects cluster').toBeGreaterThan(0);
  });

  afterAll(async () => v?.close());

  it('lesions the selected cluster from the form and shows the effect per set against the controls, as the API computed it', async () => {
    await page.goto(`${v.server.url}/contrasts/${contrastId}?layer=conv4&stat=t&sel=c${cluster.id}`);
    await page.getByTestId('lesion-form').waitFor();
    // The contrast's own sets are preselected; a few controls keep the test quick.
    expect(await page.getByTestId('lesion-set-faces').isChecked()).toBe(true);
    expect(await page.getByTestId('lesion-set-objects').isChecked()).toBe(true);
    await page.getByTestId('lesion-random').fill('3');
    await page.getByTestId('lesion-spatial').fill('3');
    await page.getByTestId('lesion-seed').fill('7');
    await page.getByTestId('lesion-run').click();
    await page.getByTestId('lesion-job').waitFor();
    await page.getByTestId('lesion-result').waitFor({ timeout: 150_000 });
    expect(await page.getByTestId('lesion-state').textContent()).toBe('succeeded');
    expect(await page.getByTestId('lesion-progress').getAttribute('aria-valuenow')).toBe('100');

    // The view's URL names the job; the API's record of it is the lesion asked for.
    await page.waitForFunction(() => new URL(location.href).searchParams.has('lesion'));
    const id = lesionOfUrl()!;
    const l = await v.api<Lesion & { params: { selection: Record<string, unknown>; controls: Record<string, number> } }>('GET', `/v1/lesions/${id}`);
    expect(l.state).toBe('succeeded');
    expect(l.params.selection).toMatchObject({ from: 'cluster', contrast: contrastId, layer: 'conv4', cluster: cluster.id, size: cluster.size });
    expect(l.params.controls).toMatchObject({ random: 3, spatial: 3, seed: 7 });
    expect(l.doses[0].units).toBe(cluster.size);
    expect(l.results!.primary).toBe('accuracy');
    expect(await page.getByTestId('lesion-progress').locator('..').textContent()).toContain(`${l.progress.total} / ${l.progress.total} evaluations`);
    await tableAgainstApi(l.results!.doses[0], 'accuracy');
    const img = page.getByTestId('lesion-effects');
    await img.evaluate((el: HTMLImageElement) => (el.complete ? null : new Promise((r) => (el.onload = r))));
    expect(await img.evaluate((el: HTMLImageElement) => el.naturalWidth)).toBeGreaterThan(100);
    expect(await img.getAttribute('src')).toBe(`/v1/lesions/${id}/effects.png?dose=0&measure=accuracy`);
    await shot('lesion', true);

    // Another measure: the same table for KL(intact ‖ lesioned), which has no specificity row.
    await page.getByTestId('lesion-measure').selectOption('kl');
    await tableAgainstApi(l.results!.doses[0], 'kl');

    // The deep link opens the same result (no form), and the link in the panel is that URL.
    const link = await page.getByTestId('lesion-link').getAttribute('href');
    expect(link).toContain(`lesion=${id}`);
    expect(link).toContain(`sel=c${cluster.id}`);
    await page.goto(v.server.url + link!);
    await page.getByTestId('lesion-result').waitFor();
    expect(await page.getByTestId('lesion-form').count()).toBe(0);
    await tableAgainstApi(l.results!.doses[0], 'accuracy');

    // “new lesion” goes back to the form and drops the lesion from the URL.
    await page.getByTestId('lesion-new').click();
    await page.getByTestId('lesion-form').waitFor();
    await page.waitForFunction(() => !new URL(location.href).searchParams.has('lesion'));
  });

  it('runs a dose-response (top 2 and 5 % of the layer) and draws it with the control bands', async () => {
    await page.goto(`${v.server.url}/contrasts/${contrastId}?layer=conv4&stat=t&sel=c${cluster.id}`);
    await page.getByTestId('lesion-form').waitFor();
    await page.getByTestId('lesion-what-top').check();
    await page.getByTestId('lesion-percents').fill('5, 2');
    await page.getByTestId('lesion-random').fill('2');
    await page.getByTestId('lesion-spatial').fill('2');
    await page.getByTestId('lesion-run').click();
    await page.getByTestId('lesion-result').waitFor({ timeout: 150_000 });
    await page.waitForFunction(() => new URL(location.href).searchParams.has('lesion'));
    const l = await v.api<Lesion & { params: { selection: Record<string, unknown> } }>('GET', `/v1/lesions/${lesionOfUrl()}`);
    expect(l.params.selection).toMatchObject({ from: 'top', layers: ['conv4'], percent: [2, 5] });
    expect(l.results!.doses.map((d) => d.dose)).toEqual([{ percent: 2 }, { percent: 5 }]);
    expect(await page.getByTestId('lesion-dose').locator('option').count()).toBe(2);
    await tableAgainstApi(l.results!.doses[0], 'accuracy');
    await page.getByTestId('lesion-dose').selectOption('1');
    await tableAgainstApi(l.results!.doses[1], 'accuracy');
    // uPlot drew the curve: a canvas with something on it beside white.
    const canvas = page.getByTestId('lesion-dose-plot').locator('canvas');
    await canvas.waitFor();
    const coloured = await canvas.evaluate((c: HTMLCanvasElement) => {
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && !(d[i] > 240 && d[i + 1] > 240 && d[i + 2] > 240)) n++;
      return n;
    });
    expect(coloured).toBeGreaterThan(200);
    expect(await page.getByTestId('lesion-dose-legend').textContent()).toContain('faces');
    await shot('lesion-dose');
  });
});
