/**
 * Runs the Python client's unittest suite (clients/python/tests) with Debian's python3 and its torch,
 * torchvision, onnx and numpy, so `npm test` covers the exporter and the client against a real server.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect, test } from 'vitest';
import { PROJECT_ROOT } from '../../src/config.ts';

const PYTHON = process.env.TOPOSCOPE_PYTHON ?? '/usr/bin/python3';

test('Python client and exporter (unittest)', () => {
  const pkg = path.join(PROJECT_ROOT, 'clients', 'python');
  const r = spawnSync(PYTHON, ['-m', 'unittest', 'discover', '-s', path.join(pkg, 'tests'), '-t', path.join(pkg, 'tests'), '-v'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, PYTHONPATH: [pkg, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter), PYTHONDONTWRITEBYTECODE: '1' },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 900_000,
  });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.error) throw new Error(`could not run ${PYTHON}: ${r.error.message}\n${output}`);
  expect(r.status, `python -m unittest failed:\n${output}`).toBe(0);
  expect(output).toMatch(/\nOK/);
}, 900_000);
