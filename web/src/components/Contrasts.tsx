/** The list of contrasts (live progress while any runs) and the batteries they belong to. */
import { api, getJson } from '../api.ts';
import { useCatalog } from '../catalog.tsx';
import { ago, fmt } from '../format.ts';
import { useAsync } from '../hooks.ts';
import type { Contrast } from '../types.ts';
import { Card, Empty, ErrorBox, Link, Loading, Progress, StateBadge } from './ui.tsx';

export const active = (c: Contrast) => c.state === 'queued' || c.state === 'running';

export function contrastTitle(c: Contrast, setNames: (ids: string[]) => string): string {
  return c.label ?? `${setNames(c.params.a)} > ${setNames(c.params.b)}`;
}

function peakT(c: Contrast): number | null {
  let best: number | null = null;
  for (const l of c.layers) if (l.peak && (best === null || Math.abs(l.peak.t) > Math.abs(best))) best = l.peak.t;
  return best;
}

export function ContrastTable({ items, showModel = true }: { items: Contrast[]; showModel?: boolean }) {
  const cat = useCatalog();
  if (!items.length) return <Empty>No contrasts yet.</Empty>;
  return (
    <table class="table" data-testid="contrast-table">
      <thead>
        <tr>
          <th>Contrast</th>
          {showModel && <th>Model</th>}
          <th>Layers</th>
          <th>State</th>
          <th class="w-progress">Progress</th>
          <th class="num">Peak t</th>
          <th>Submitted</th>
        </tr>
      </thead>
      <tbody>
        {items.map((c) => (
          <tr key={c.id} data-testid={`contrast-row-${c.id}`}>
            <td>
              <Link href={`/contrasts/${c.id}`}>{contrastTitle(c, cat.setNames)}</Link>
              <div class="muted small mono">{c.id}</div>
              {c.error && <div class="error-text small">{c.error}</div>}
            </td>
            {showModel && <td>{cat.model(c.model)?.name ?? c.model}</td>}
            <td class="small">{c.params.layers.join(', ')}</td>
            <td>
              <StateBadge state={c.state} />
              {c.battery && (
                <div class="small">
                  <Link href={`/batteries/${c.battery}`}>battery</Link>
                </div>
              )}
            </td>
            <td>
              <Progress c={c} />
            </td>
            <td class="num">{fmt(peakT(c), 2)}</td>
            <td class="small">{ago(c.createdAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ContrastsPage() {
  const r = useAsync(() => api.contrasts(), [], { ms: 1000, while: (d) => d.items.some(active) });
  const batteries = new Map<string, Contrast[]>();
  for (const c of r.data?.items ?? []) if (c.battery) batteries.set(c.battery, [...(batteries.get(c.battery) ?? []), c]);
  return (
    <div class="page">
      <div class="page-head">
        <h1>Contrasts</h1>
        <div class="row gap">
          <button class="btn" onClick={r.reload}>
            Refresh
          </button>
          <Link class="btn btn-primary" href="/contrasts/new" data-testid="new-contrast">
            New contrast
          </Link>
        </div>
      </div>
      <ErrorBox error={r.error} />
      <Card>{r.data ? <ContrastTable items={r.data.items} /> : r.loading ? <Loading what="contrasts" /> : null}</Card>
      {batteries.size > 0 && (
        <Card title="Batteries" testid="battery-list">
          <table class="table">
            <thead>
              <tr>
                <th>Battery</th>
                <th>Contrasts</th>
                <th>Done</th>
                <th>Failed</th>
              </tr>
            </thead>
            <tbody>
              {[...batteries].map(([id, cs]) => (
                <tr key={id}>
                  <td>
                    <Link href={`/batteries/${id}`} class="mono">
                      {id}
                    </Link>
                  </td>
                  <td>{cs.length}</td>
                  <td>{cs.filter((c) => c.state === 'succeeded').length}</td>
                  <td>{cs.filter((c) => c.state === 'failed').length}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
      )}
    </div>
  );
}

export function BatteryPage({ id }: { id: string }) {
  const r = useAsync(() => getJson<{ id: string; contrasts: Contrast[] }>(`/v1/batteries/${encodeURIComponent(id)}`), [id], {
    ms: 1000,
    while: (d) => d.contrasts.some(active),
  });
  return (
    <div class="page">
      <div class="page-head">
        <h1>
          Battery <span class="mono">{id}</span>
        </h1>
      </div>
      <ErrorBox error={r.error} />
      <Card>{r.data ? <ContrastTable items={r.data.contrasts} /> : r.loading ? <Loading what="battery" /> : null}</Card>
    </div>
  );
}
