/**
 * The selection panel's top-stimuli and response-profile sections in a real headless Chromium against
 * the real server: the shown lists equal the API's result, text examples carry per-token colours, and
 * the profile never offers the contrast's own sets. Screenshots go to tests/web/__screenshots__/ (and,
 * with TOPOSCOPE_DOCS_SCREENSHOTS=1, to docs/encoding/).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { PROJECT_ROOT } from '../../src/config.ts';
import { ensureViewerBuilt, launchBrowser, SCREENSHOTS, type Server, serverApi, startServer } from './server.ts';

let server: Server;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;
let contrastId: string;
let peak = 0;

const api = <T>(method: string, url: string, body?: unknown) => serverApi<T>(server, method, url, body);

async function shot(name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const buf = await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  if (process.env.TOPOSCOPE_DOCS_SCREENSHOTS === '1') fs.writeFileSync(path.join(PROJECT_ROOT, 'docs', 'encoding', `${name}.png`), buf);
}

describe('selection panel: top stimuli and profile', () => {
  beforeAll(async () => {
    const started = await Promise.allSettled([ensureViewerBuilt(), startServer(), launchBrowser()]);
    if (started[1].status === 'fulfilled') server = started[1].value;
    if (started[2].status === 'fulfilled') browser = started[2].value;
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    const c = await api<{ id: string }>('POST', '/v1/contrasts', { model: 'topo-gpt', a: 'toxic', b: 'neutral', layers: ['mlp0'], analysis: { topography: { permutations: 19 } } });
    contrastId = c.id;
    for (const until = Date.now() + 120_000; ; await new Promise((r) => setTimeout(r, 200))) {
      const s = await api<{ state: string; layers: { peak: { unit: number } }[] }>('GET', `/v1/contrasts/${contrastId}`);
      if (s.state === 'succeeded') {
        peak = s.layers[0].peak.unit;
        break;
      }
      if (s.state !== 'queued' && s.state !== 'running') throw new Error(`contrast ${s.state}`);
      if (Date.now() > until) throw new Error('contrast did not finish');
    }
    await page.goto(`${server.url}/`);
    await page.getByTestId('api-key-button').click();
    await page.getByTestId('api-key-input').fill(server.apiKey);
    await page.getByTestId('api-key-save').click();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('finds the top and bottom stimuli of the selected unit, with per-token colours, as the API does', async () => {
    await page.goto(`${server.url}/contrasts/${contrastId}?layer=mlp0&stat=t&sel=u${peak}`);
    await page.getByTestId('top-stimuli').waitFor();
    await page.getByTestId('top-set').selectOption({ label: 'sentences (120)' });
    await page.getByTestId('top-run').click();
    await page.getByTestId('top-result').waitFor({ timeout: 120_000 });
    const shown = await page.getByTestId('top-list-item').allTextContents();
    expect(shown.length).toBe(10);
    const list = await api<{ items: { id: string }[] }>('GET', '/v1/top-stimuli');
    const job = await api<{ result: { top: { value: number; tokens: { tokens: string[] } }[]; bottom: unknown[] } }>('GET', `/v1/top-stimuli/${list.items[0].id}`);
    expect(job.result.top.length).toBe(10);
    // Each line shows the value and the tokens of the API's example, in order.
    for (let i = 0; i < 10; i++) {
      const e = job.result.top[i];
      expect(shown[i].trim().startsWith(e.value.toFixed(3).replace('-', '−'))).toBe(true);
      expect(shown[i].replace(/\s+/g, '')).toContain(e.tokens.tokens.join(''));
    }
    const tokens = page.getByTestId('top-list').locator('.token');
    expect(await tokens.count()).toBeGreaterThan(20);
    const bgs = new Set(await tokens.evaluateAll((els) => els.map((el) => getComputedStyle(el).backgroundColor)));
    expect(bgs.size).toBeGreaterThan(3);
    expect(await page.getByTestId('bottom-list-item').count()).toBe(10);
    await page.getByTestId('top-histogram').evaluate((img: HTMLImageElement) => (img.complete ? null : new Promise((r) => (img.onload = r))));
    expect(await page.getByTestId('top-histogram').evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(640);
    await shot('viewer-top-stimuli');
  });

  it("measures the selection's profile on other sets, never offering the contrast's own", async () => {
    await page.goto(`${server.url}/contrasts/${contrastId}?layer=mlp0&stat=t&sel=u${peak}`);
    await page.getByTestId('profile').waitFor();
    expect(await page.getByTestId('profile-set-toxic').count()).toBe(0);
    expect(await page.getByTestId('profile-set-neutral').count()).toBe(0);
    await page.getByTestId('profile-set-sentences').check();
    await page.getByTestId('profile-set-nonwords').check();
    await page.getByTestId('profile-run').click();
    await page.getByTestId('profile-result').waitFor({ timeout: 120_000 });
    const rows = await page.getByTestId('profile-row').allTextContents();
    expect(rows.length).toBe(2);
    expect(rows[0]).toContain('sentences');
    expect(rows[0]).toContain('120');
    await shot('viewer-profile');
  });
});
