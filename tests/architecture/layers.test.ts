/** The one-way import rule of src/, and SQL only in store/. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config.ts';
import { ALLOWED, checkLayers } from '../../scripts/check-layers.ts';
import { tempDir } from '../support/env.ts';

const SRC = path.join(PROJECT_ROOT, 'src');

function* files(dir: string): Generator<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (/\.(ts|mjs)$/.test(e.name)) yield p;
  }
}

describe('layering', () => {
  it('no module of src/ imports a module above it', () => {
    expect(checkLayers()).toEqual([]);
  });

  it('every top-level module of src/ has a row in the table', () => {
    for (const e of fs.readdirSync(SRC)) expect(Object.keys(ALLOWED), e).toContain(e);
  });

  it('the check catches an upward import, a type-only one included', () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'store'));
    fs.mkdirSync(path.join(dir, 'pipeline'));
    fs.mkdirSync(path.join(dir, 'domain'));
    fs.writeFileSync(path.join(dir, 'pipeline', 'x.ts'), 'export const x = 1;\n');
    fs.writeFileSync(path.join(dir, 'domain', 'd.ts'), 'export type D = number;\n');
    fs.writeFileSync(path.join(dir, 'store', 'repo.ts'), "import type { D } from '../domain/d.ts';\nimport type { x } from '../pipeline/x.ts';\n");
    const v = checkLayers(dir);
    expect(v).toHaveLength(1);
    expect(v[0]).toMatchObject({ file: path.join('store', 'repo.ts'), imports: '../pipeline/x.ts' });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('SQL statements live in store/ only', () => {
    const sql = /\b(prepare|exec)\s*\(\s*[`'"]\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|PRAGMA)\b/i;
    const offenders: string[] = [];
    for (const f of files(SRC)) {
      if (f.startsWith(path.join(SRC, 'store') + path.sep)) continue;
      if (sql.test(fs.readFileSync(f, 'utf8'))) offenders.push(path.relative(SRC, f));
    }
    expect(offenders).toEqual([]);
  });

  it('routes take typed request data, never casts of it', () => {
    const offenders: string[] = [];
    for (const f of files(path.join(SRC, 'http', 'routes'))) {
      const text = fs.readFileSync(f, 'utf8');
      if (/req\.(body|query|params)\s+as\b/.test(text) || /\bas \{/.test(text)) offenders.push(path.relative(SRC, f));
    }
    expect(offenders).toEqual([]);
  });

  it('threads and processes started per job load only what they use: sessions no schema library, the tokenizer thread no image library', () => {
    // Runtime imports only: `import type` is erased. (TypeBox takes ~0.1 s to load, sharp ~0.09 s.)
    const runtimeImports = (file: string): string[] =>
      [...fs.readFileSync(file, 'utf8').matchAll(/^import\s+(?!type\b)[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1]);
    const packagesOf = (entries: string[]) => {
      const seen = new Set<string>();
      const packages = new Set<string>();
      const visit = (file: string) => {
        if (seen.has(file)) return;
        seen.add(file);
        for (const spec of runtimeImports(file)) {
          if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec));
          else packages.add(spec);
        }
      };
      for (const e of entries) visit(path.join(SRC, e));
      return [...packages];
    };
    const sessions = packagesOf(['inference/native-child-entry.ts', 'inference/session-worker.ts']);
    expect(sessions).toContain('onnxruntime-node');
    expect(sessions.filter((p) => p.startsWith('@sinclair/'))).toEqual([]);
    const tokenizer = packagesOf(['inference/tokenizer-thread.ts']);
    expect(tokenizer).toContain('@huggingface/tokenizers');
    expect(tokenizer.filter((p) => p === 'sharp' || p.startsWith('@sinclair/'))).toEqual([]);
  });
});
