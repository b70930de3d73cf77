/** The CLI as a user runs it: a real child process, a real data folder, files on disk. */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeNpy } from '../../src/render/npy.ts';
import { cliRunner } from '../support/cli.ts';
import { MODELS, STIMULI, tempDir } from '../support/env.ts';

const data = tempDir();
const out = tempDir();
afterAll(() => {
  fs.rmSync(data, { recursive: true, force: true });
  fs.rmSync(out, { recursive: true, force: true });
});

const cli = cliRunner(data);

describe('toposcope CLI', () => {
  let contrastId = '';
  const model = path.join(MODELS, 'topo-cnn');
  const layer = (JSON.parse(fs.readFileSync(path.join(model, 'manifest.json'), 'utf8')) as { layers: { name: string }[] }).layers.at(-1)!.name;

  it('run: prints the per-layer table, plain progress lines off a TTY, and writes maps', () => {
    const dir = path.join(out, 'run');
    const r = cli('run', '--model', model, '--a', path.join(STIMULI, 'images', 'faces'), '--b', path.join(STIMULI, 'images', 'objects'), '--out', dir, '--threshold', '3', '--permutations', '49', '--reliability', '2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/layer\s+units\s+sheet\s+nA\s+nB\s+sig/);
    expect(r.stdout).toMatch(new RegExp(`${layer}\\s+\\d+\\s+\\d+x\\d+`));
    expect(r.stdout).toMatch(/Moran's I/);
    expect(r.stderr).toMatch(/progress \d+\/\d+ stimuli \(100%\)/);
    expect(r.stdout).toContain(`maps written to ${dir}`);
    const summary = JSON.parse(fs.readFileSync(path.join(dir, 'contrast.json'), 'utf8'));
    contrastId = summary.id;
    expect(summary.params.analysis.permutations).toEqual({ n: 49 });
    for (const f of [`${layer}.t.png`, `${layer}.d.png`, `${layer}.log10p.png`, `${layer}.smoothness.png`, `${layer}.clusters.json`, `${layer}.json`]) {
      expect(fs.existsSync(path.join(dir, f)), f).toBe(true);
    }
    const npy = decodeNpy(fs.readFileSync(path.join(dir, `${layer}.t.npy`)));
    const layerJson = JSON.parse(fs.readFileSync(path.join(dir, `${layer}.json`), 'utf8'));
    expect(npy.shape).toEqual([layerJson.rows, layerJson.cols]);
    return sharp(path.join(dir, `${layer}.t.png`))
      .metadata()
      .then((m) => expect(m.format).toBe('png'));
  });

  it('mask and compare work on the stored contrast', () => {
    const m = cli('mask', '--name', 'top1', '--kind', 'top-percent', '--contrast', contrastId, '--percent', '2', '--control-seed', '9');
    expect(m.code, m.stderr).toBe(0);
    const j = JSON.parse(m.stdout);
    expect(j.mask.nUnits).toBeGreaterThan(0);
    expect(j.control.nUnits).toBe(j.mask.nUnits);
    const c = cli('compare', '--map', `${contrastId}:${layer}:t`, '--map', `${contrastId}:${layer}:d`);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/Pearson r\n\s+1\.000/);
  });

  it('battery runs each category against the rest', () => {
    // Categories are registered sets: 'places' is not registered yet.
    const r = cli('battery', '--model', 'topo-cnn', '--categories', 'faces,objects,places', '--layers', layer, '--out', path.join(out, 'battery'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/stimulus set 'places' does not exist/);
    const reg = cli('run', '--model', 'topo-cnn', '--a', path.join(STIMULI, 'images', 'places'), '--b', 'objects', '--layers', layer);
    expect(reg.code, reg.stderr).toBe(0);
    const b = cli('battery', '--model', 'topo-cnn', '--categories', 'faces,objects,places', '--layers', layer, '--out', path.join(out, 'battery'));
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toMatch(/3 contrasts in one pass/);
    expect(b.stdout).toContain('faces > rest');
    expect(b.stdout).toContain('places > rest');
  });

  it('fails with a message and a non-zero code on bad input', () => {
    const r = cli('run', '--model', 'no-such-model', '--a', 'x', '--b', 'y');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--model 'no-such-model'/);
    const u = cli('frobnicate');
    expect(u.code).toBe(2);
  });
});
