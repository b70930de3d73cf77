/** The layer's stored cluster table, linked to the map: hover previews a cluster, click selects it. */
import { useEffect, useRef } from 'preact/hooks';
import { fmt, fmtP, fmtSig } from '../format.ts';
import type { Cluster, ClusterParams } from '../types.ts';

export function clusterRule(p: ClusterParams | undefined): string {
  if (!p) return 'parameters not recorded';
  const thr = p.threshold ?? (p.scale === 'abs-t' ? 3 : 0.001);
  const rule = p.scale === 'abs-t' ? `|t| ≥ ${fmtSig(thr)}` : `uncorrected p ≤ ${fmtSig(thr)}`;
  return `${rule}, ${p.connectivity ?? 8}-connected, at least ${p.minSize ?? 1} unit${(p.minSize ?? 1) > 1 ? 's' : ''}, positive and negative t apart`;
}

export function ClusterTable(props: {
  clusters: Cluster[];
  params: ClusterParams | undefined;
  selected: number | null;
  onSelect: (id: number) => void;
  onPreview: (id: number | null) => void;
}) {
  const body = useRef<HTMLTableSectionElement>(null);
  useEffect(() => {
    if (props.selected === null) return;
    body.current?.querySelector(`[data-cluster="${props.selected}"]`)?.scrollIntoView({ block: 'nearest' });
  }, [props.selected]);
  const perm = props.clusters.some((k) => k.pMass !== null);
  return (
    <div>
      <p class="muted small" data-testid="cluster-rule">
        {props.clusters.length} clusters computed by the server: {clusterRule(props.params)}; numbered by mass Σ|t|.
      </p>
      {props.clusters.length > 0 && (
        <div class="table-scroll">
          <table class="table compact clickable" data-testid="cluster-table">
            <thead>
              <tr>
                <th class="num">#</th>
                <th>sign</th>
                <th class="num">units</th>
                <th class="num">mass</th>
                <th class="num">peak t</th>
                <th>peak (row, col)</th>
                <th>centroid</th>
                {perm && <th class="num">p FWE (mass)</th>}
                {perm && <th class="num">p FWE (size)</th>}
              </tr>
            </thead>
            <tbody ref={body} onMouseLeave={() => props.onPreview(null)}>
              {props.clusters.map((k) => (
                <tr
                  key={k.id}
                  data-cluster={k.id}
                  data-testid={`cluster-row-${k.id}`}
                  aria-selected={props.selected === k.id}
                  class={props.selected === k.id ? 'selected' : ''}
                  onMouseEnter={() => props.onPreview(k.id)}
                  onClick={() => props.onSelect(k.id)}
                >
                  <td class="num">{k.id}</td>
                  <td>
                    <span class={`sign sign-${k.sign > 0 ? 'pos' : 'neg'}`}>{k.sign > 0 ? 'A > B' : 'B > A'}</span>
                  </td>
                  <td class="num">{k.size}</td>
                  <td class="num">{fmt(k.mass, 1)}</td>
                  <td class="num">{fmt(k.peakT, 2)}</td>
                  <td>
                    ({k.peakRow}, {k.peakCol})
                  </td>
                  <td>
                    ({fmt(k.centroidRow, 1)}, {fmt(k.centroidCol, 1)})
                  </td>
                  {perm && <td class="num">{fmtP(k.pMass)}</td>}
                  {perm && <td class="num">{fmtP(k.pSize)}</td>}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
