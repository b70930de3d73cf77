/** The compiled build (npm run build → dist/) runs on its own: the bin, the CLI, the worker threads. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, VERSION } from '../../src/config.ts';
import { MODELS, STIMULI, tempDir } from '../support/env.ts';

const data = tempDir();
afterAll(() => fs.rmSync(data, { recursive: true, force: true }));

function run(file: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(PROJECT_ROOT, file), ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, TOPOSCOPE_REGISTER_FIXTURES: '0', TOPOSCOPE_WORKERS: '1', TOPOSCOPE_ORT_THREADS: '1' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('dist/', () => {
  it('exists (npm run build) and holds no TypeScript loader dependency', () => {
    expect(fs.existsSync(path.join(PROJECT_ROOT, 'dist', 'main.js')), 'run npm run build first').toBe(true);
    const main = fs.readFileSync(path.join(PROJECT_ROOT, 'dist', 'main.js'), 'utf8');
    expect(main).not.toMatch(/\.ts['"]/);
  });

  it('bin/toposcope prints the version and every command', () => {
    expect(run('bin/toposcope.js', '--version').stdout.trim()).toBe(VERSION);
    const help = run('bin/toposcope.js', '--help').stdout;
    for (const c of ['serve', 'run', 'battery', 'mask', 'compare', 'demo']) expect(help).toMatch(new RegExp(`^\\s+${c}\\b`, 'm'));
  });

  it('runs a contrast with the compiled session, analysis and permutation workers', () => {
    const out = path.join(data, 'out');
    const r = run('dist/main.js', 'run', '--model', path.join(MODELS, 'topo-cnn'), '--a', path.join(STIMULI, 'images', 'faces'), '--b', path.join(STIMULI, 'images', 'objects'), '--layers', 'conv4', '--permutations', '19', '--out', out, '--data', path.join(data, 'd'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/conv4\s+256\s+16x16/);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'contrast.json'), 'utf8'));
    expect(summary.params.analysis.permutations).toEqual({ n: 19 });
    expect(fs.statSync(path.join(out, 'conv4.t.png')).size).toBeGreaterThan(1000);
  });

  it('a failing command exits 1 with its message, and lets go of the data directory', () => {
    const d = path.join(data, 'd');
    const lock = path.join(d, 'toposcope.owner.json');
    expect(fs.existsSync(d)).toBe(true);
    const r = run('dist/main.js', 'compare', '--map', 'c_x:conv4', '--map', 'c_y:conv4', '--data', d);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/contrast 'c_x' does not exist/);
    expect(fs.existsSync(lock)).toBe(false);
  });
});
