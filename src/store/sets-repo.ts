/** The `stimulus_sets`, `stimulus_set_items` and `stimulus_items` tables. */
import type { DB } from './db.ts';
import type { Modality, StimulusItem, StimulusSet } from '../domain/records.ts';

interface SetRow {
  id: string;
  hash: string;
  name: string;
  modality: Modality;
  n_items: number;
  source: string;
  created_at: string;
}

const toSet = (r: SetRow): StimulusSet => ({
  id: r.id,
  hash: r.hash,
  name: r.name,
  modality: r.modality,
  nItems: r.n_items,
  source: r.source,
  createdAt: r.created_at,
});

export interface NewItem {
  sha256: string;
  label: string | null;
  /** Class name of the item (e.g. from an image folder's labels.json), or null. */
  classLabel?: string | null;
  kind: Modality;
  mediaType: string;
  bytes: number;
  text: string | null;
  /** Blob file relative to the data directory (image items). */
  path: string | null;
}

export function getSetByHash(db: DB, hash: string): StimulusSet | null {
  const r = db.prepare('SELECT * FROM stimulus_sets WHERE hash = ?').get(hash) as SetRow | undefined;
  return r ? toSet(r) : null;
}

/** Inserts a set and its items in one transaction (items already stored are shared). */
export function insertSet(db: DB, set: StimulusSet, items: NewItem[]): void {
  const insItem = db.prepare(
    `INSERT OR IGNORE INTO stimulus_items (sha256, kind, media_type, size_bytes, text, path, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const insLink = db.prepare('INSERT INTO stimulus_set_items (set_id, position, item_sha256, label, class_label) VALUES (?, ?, ?, ?, ?)');
  db.transaction(() => {
    db.prepare('INSERT INTO stimulus_sets (id, hash, name, modality, n_items, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
      set.id,
      set.hash,
      set.name,
      set.modality,
      set.nItems,
      set.source,
      set.createdAt,
    );
    items.forEach((it, i) => {
      insItem.run(it.sha256, it.kind, it.mediaType, it.bytes, it.text, it.path, set.createdAt);
      insLink.run(set.id, i, it.sha256, it.label, it.classLabel ?? null);
    });
  })();
}

export function getSet(db: DB, id: string): StimulusSet | null {
  const r = db.prepare('SELECT * FROM stimulus_sets WHERE id = ?').get(id) as SetRow | undefined;
  return r ? toSet(r) : null;
}

/** By id, or else the most recently created set with that name. */
export function findSet(db: DB, idOrName: string): StimulusSet | null {
  const byId = getSet(db, idOrName);
  if (byId) return byId;
  const r = db.prepare('SELECT * FROM stimulus_sets WHERE name = ? ORDER BY created_at DESC, rowid DESC LIMIT 1').get(idOrName) as SetRow | undefined;
  return r ? toSet(r) : null;
}

export function listSets(db: DB, opts: { limit: number; offset: number; modality?: string }): { items: StimulusSet[]; total: number } {
  const where = opts.modality ? 'WHERE modality = @modality' : '';
  const total = (db.prepare(`SELECT COUNT(*) AS n FROM stimulus_sets ${where}`).get({ modality: opts.modality }) as { n: number }).n;
  const rows = db
    .prepare(`SELECT * FROM stimulus_sets ${where} ORDER BY created_at, rowid LIMIT @limit OFFSET @offset`)
    .all({ modality: opts.modality, limit: opts.limit, offset: opts.offset }) as SetRow[];
  return { items: rows.map(toSet), total };
}

export function setItems(db: DB, setId: string): StimulusItem[] {
  return db
    .prepare(
      `SELECT l.position, l.item_sha256 AS sha256, l.label, l.class_label AS classLabel, i.kind, i.media_type AS mediaType, i.text, i.path
       FROM stimulus_set_items l JOIN stimulus_items i ON i.sha256 = l.item_sha256
       WHERE l.set_id = ? ORDER BY l.position`,
    )
    .all(setId) as StimulusItem[];
}

/** How many jobs name the set. */
export function jobsUsingSet(db: DB, setId: string): number {
  return (db.prepare('SELECT COUNT(*) AS n FROM job_sets WHERE set_id = ?').get(setId) as { n: number }).n;
}

/** Deletes the set and its item links; items stay (content-addressed, possibly shared). */
export function deleteSet(db: DB, setId: string): void {
  db.prepare('DELETE FROM stimulus_sets WHERE id = ?').run(setId);
}

/** Blob files (relative to the data directory) that item rows refer to. */
export function knownBlobPaths(db: DB): Set<string> {
  return new Set((db.prepare('SELECT path FROM stimulus_items WHERE path IS NOT NULL').all() as { path: string }[]).map((r) => r.path));
}

/** Where a stored item's bytes are: its blob file (images, relative to the data directory) or its text. */
export function itemContent(db: DB, sha256: string): { path: string | null; text: string | null } | null {
  return (db.prepare('SELECT path, text FROM stimulus_items WHERE sha256 = ?').get(sha256) as { path: string | null; text: string | null } | undefined) ?? null;
}
