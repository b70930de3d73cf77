/**
 * The bundled fixtures: every folder of `fixtures/models/` with a model.onnx and manifest.json is a
 * model; `fixtures/stimuli/images/<name>/` folders are image sets and `fixtures/stimuli/text/*.txt`
 * files are text sets, named after the folder or file. Registration is idempotent.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../config.ts';
import type { Context } from '../store/context.ts';
import { registerModelFromFolder } from './models.ts';
import { createImageSet, createTextSet, folderLabels, parseTextBody } from './stimulus-sets.ts';

export const FIXTURES_DIR = path.join(PROJECT_ROOT, 'fixtures');

export interface FixtureReport {
  models: { name: string; id: string; created: boolean }[];
  sets: { name: string; id: string; created: boolean; items: number }[];
  errors: string[];
}

export async function registerFixtures(ctx: Context, root = FIXTURES_DIR): Promise<FixtureReport> {
  const report: FixtureReport = { models: [], sets: [], errors: [] };
  const modelsDir = path.join(root, 'models');
  if (fs.existsSync(modelsDir)) {
    for (const name of fs.readdirSync(modelsDir).sort()) {
      const dir = path.join(modelsDir, name);
      if (!fs.existsSync(path.join(dir, 'model.onnx')) || !fs.existsSync(path.join(dir, 'manifest.json'))) continue;
      try {
        const r = await registerModelFromFolder(ctx, dir, { source: `fixture:${name}`, trusted: true });
        report.models.push({ name: r.model.name, id: r.model.id, created: r.created });
      } catch (e) {
        report.errors.push(`model ${name}: ${(e as Error).message}`);
      }
    }
  }
  const imagesDir = path.join(root, 'stimuli', 'images');
  if (fs.existsSync(imagesDir)) {
    for (const name of fs.readdirSync(imagesDir).sort()) {
      const dir = path.join(imagesDir, name);
      if (!fs.statSync(dir).isDirectory()) continue;
      const files = fs.readdirSync(dir).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort();
      if (files.length === 0) continue;
      try {
        const labels = folderLabels(dir);
        const r = await createImageSet(ctx, name, files.map((f) => ({ name: f, data: fs.readFileSync(path.join(dir, f)), classLabel: labels?.[f] ?? null })), `fixture:images/${name}`);
        report.sets.push({ name, id: r.set.id, created: r.created, items: r.set.nItems });
      } catch (e) {
        report.errors.push(`image set ${name}: ${(e as Error).message}`);
      }
    }
  }
  const textDir = path.join(root, 'stimuli', 'text');
  if (fs.existsSync(textDir)) {
    for (const file of fs.readdirSync(textDir).filter((f) => /\.txt$/i.test(f)).sort()) {
      const name = file.replace(/\.txt$/i, '');
      try {
        const r = createTextSet(ctx, name, parseTextBody(fs.readFileSync(path.join(textDir, file), 'utf8')), `fixture:text/${file}`);
        report.sets.push({ name, id: r.set.id, created: r.created, items: r.set.nItems });
      } catch (e) {
        report.errors.push(`text set ${name}: ${(e as Error).message}`);
      }
    }
  }
  return report;
}
