/** What the plain functions of the service need: configuration, the database, the data folders. */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import { openDatabase, type DB } from './db.ts';

export interface Context {
  config: Config;
  db: DB;
  paths: {
    data: string;
    models: string;
    stimuli: string;
    activations: string;
    tmp: string;
  };
}

export function createContext(config: Config): Context {
  const data = config.dataDir;
  const paths = {
    data,
    models: path.join(data, 'models'),
    stimuli: path.join(data, 'stimuli'),
    activations: path.join(data, 'activations'),
    tmp: path.join(data, 'tmp'),
  };
  for (const p of Object.values(paths)) fs.mkdirSync(p, { recursive: true });
  const db = openDatabase(path.join(data, 'toposcope.sqlite'));
  return { config, db, paths };
}

export function closeContext(ctx: Context): void {
  if (ctx.db.open) ctx.db.close();
}
