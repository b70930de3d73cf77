/** The `comparisons` table. */
import type { DB } from './db.ts';
import type { ComparisonRecord } from '../domain/records.ts';

export function insertComparison(db: DB, c: ComparisonRecord): void {
  const { id, createdAt, ...rest } = c;
  db.prepare('INSERT INTO comparisons (id, spec, result, created_at) VALUES (?, ?, ?, ?)').run(
    id,
    JSON.stringify(rest.maps),
    JSON.stringify({ pearson: rest.pearson, ssim: rest.ssim, ssimOptions: rest.ssimOptions }),
    createdAt,
  );
}

export function getComparison(db: DB, id: string): ComparisonRecord | null {
  const r = db.prepare('SELECT * FROM comparisons WHERE id = ?').get(id) as { id: string; spec: string; result: string; created_at: string } | undefined;
  if (!r) return null;
  const res = JSON.parse(r.result) as Pick<ComparisonRecord, 'pearson' | 'ssim' | 'ssimOptions'>;
  return { id: r.id, maps: JSON.parse(r.spec) as ComparisonRecord['maps'], ...res, createdAt: r.created_at };
}
