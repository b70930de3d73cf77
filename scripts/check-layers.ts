/**
 * The import rule of src/: each top-level module may import only the modules listed for it below
 * (and its own files). `node --import tsx scripts/check-layers.ts` prints violations and exits 1.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');

/** Who may import whom. Entry points on top, domain types at the bottom. */
export const ALLOWED: Record<string, readonly string[]> = {
  domain: [],
  'config.ts': [],
  stats: ['domain'],
  sheet: ['domain'],
  render: ['domain'],
  onnx: ['domain'],
  store: ['domain', 'config.ts'],
  inference: ['domain', 'config.ts', 'onnx'],
  pipeline: ['domain', 'config.ts', 'inference', 'onnx', 'stats', 'sheet', 'render'],
  jobs: ['domain', 'config.ts', 'pipeline', 'store', 'stats', 'sheet', 'render'],
  // The distributed worker process: beside jobs, without the data directory (no store) or the service.
  worker: ['domain', 'config.ts', 'pipeline', 'inference', 'onnx', 'stats', 'sheet', 'render'],
  usecases: ['domain', 'config.ts', 'jobs', 'pipeline', 'inference', 'onnx', 'stats', 'sheet', 'render', 'store'],
  http: ['domain', 'config.ts', 'usecases'],
  cli: ['domain', 'config.ts', 'usecases'],
  'main.ts': ['domain', 'config.ts', 'usecases', 'http', 'cli', 'worker'],
};

const SPEC = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|new URL\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

function moduleOf(src: string, file: string): string {
  return path.relative(src, file).split(path.sep)[0];
}

function* walk(dir: string): Generator<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (/\.(ts|mts|mjs)$/.test(e.name)) yield p;
  }
}

export interface Violation {
  file: string;
  imports: string;
  rule: string;
}

export function checkLayers(src = SRC): Violation[] {
  const out: Violation[] = [];
  for (const file of walk(src)) {
    const from = moduleOf(src, file);
    const allowed = ALLOWED[from];
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(SPEC)) {
      const target = path.resolve(path.dirname(file), m[1]);
      if (!target.startsWith(src + path.sep)) continue;
      const to = moduleOf(src, target);
      if (to === from) continue;
      if (!allowed) {
        out.push({ file: path.relative(src, file), imports: m[1], rule: `module '${from}' has no entry in the layer table` });
      } else if (!allowed.includes(to)) {
        out.push({ file: path.relative(src, file), imports: m[1], rule: `'${from}' may import only ${allowed.length ? allowed.join(', ') : 'nothing of the project'}` });
      }
    }
  }
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const v = checkLayers();
  for (const x of v) console.log(`${x.file}: imports ${x.imports} — ${x.rule}`);
  console.log(v.length ? `${v.length} upward import(s)` : 'layers ok');
  process.exit(v.length ? 1 : 0);
}
