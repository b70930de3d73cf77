/** Topography of the t-map: Moran's I, the smoothness curve (uPlot) and, when computed, reliability and permutations. */
import { useMemo } from 'preact/hooks';
import type uPlot from 'uplot';
import { fmt, fmtP } from '../format.ts';
import type { LayerAnalysis } from '../types.ts';
import { Plot } from './Plot.tsx';

export function Topography({ a }: { a: LayerAnalysis }) {
  const m = a.moran ?? {};
  const s = a.smoothness ?? {};
  const data = useMemo<uPlot.AlignedData | null>(() => {
    if (!s.binCenters?.length) return null;
    return [s.binCenters, (s.meanAbsDiff ?? []).map((v) => v ?? null), (s.chanceMean ?? []).map((v) => v ?? null)] as uPlot.AlignedData;
  }, [s]);
  const opts = useMemo<Omit<uPlot.Options, 'width' | 'height'>>(
    () => ({
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false } },
      axes: [
        { label: 'distance on the sheet (cells)', size: 36, labelSize: 18, font: '11px system-ui, sans-serif', labelFont: '11px system-ui, sans-serif' },
        { label: 'mean |Δt|', size: 44, labelSize: 18, font: '11px system-ui, sans-serif', labelFont: '11px system-ui, sans-serif' },
      ],
      series: [
        { label: 'distance', value: (_u, v) => (v === null ? '–' : v.toFixed(1)) },
        { label: 'observed', stroke: '#b2182b', width: 2, points: { show: true, size: 5, fill: '#b2182b' }, value: (_u, v) => (v === null ? '–' : v.toFixed(2)) },
        { label: 'shuffled positions', stroke: '#777', width: 1.5, dash: [5, 4], points: { show: false }, value: (_u, v) => (v === null ? '–' : v.toFixed(2)) },
      ],
    }),
    [],
  );
  const rel = a.reliability;
  const perm = a.permutation;
  return (
    <div class="topo" data-testid="topography">
      <div class="stat-row">
        <div class="big-stat" data-testid="moran-i">
          <span class="big">{fmt(m.I, 3)}</span>
          <span class="muted small">Moran's I</span>
        </div>
        <div class="small">
          p = {fmtP(m.p)} over {m.permutations ?? '–'} spatial permutations; expected {fmt(m.expected, 3)}, z = {fmt(m.zScore, 1)}.
          <div class="muted">
            {m.contiguity ?? 'queen'} contiguity, {m.smoothed ? 'smoothed' : 'unsmoothed'} t-map, {m.n ?? '–'} units.
          </div>
        </div>
      </div>
      <h3>Smoothness</h3>
      {data ? (
        <>
          <Plot opts={opts} data={data} height={170} testid="smoothness-plot" />
          <div class="legend small">
            <span class="key key-line" style={{ borderColor: '#b2182b' }} /> observed <span class="key key-dash" /> shuffled positions (chance)
          </div>
        </>
      ) : (
        <p class="muted small">No smoothness curve stored for this layer.</p>
      )}
      <p class="muted small">Mean |Δt| between unit pairs by their distance on the sheet; below the shuffled curve at short range means neighbours agree.</p>
      <h3>Reliability</h3>
      {rel ? (
        <dl class="kv" data-testid="reliability">
          <dt>split-half r</dt>
          <dd>
            {fmt(rel.meanR, 3)} <span class="muted">(mean of {rel.splits} splits)</span>
          </dd>
          <dt>Spearman–Brown</dt>
          <dd>{fmt(rel.spearmanBrownOfMeanR, 3)}</dd>
          <dt>Dice</dt>
          <dd>
            {fmt(rel.meanDice, 3)} <span class="muted">(masks |t| ≥ {rel.threshold})</span>
          </dd>
        </dl>
      ) : (
        <p class="muted small" data-testid="reliability">
          Not computed: submit the contrast with split-half reliability (analysis options).
        </p>
      )}
      {perm && (
        <>
          <h3>Permutations</h3>
          <dl class="kv">
            <dt>label permutations</dt>
            <dd>{perm.nPerm}</dd>
            <dt>units p(FWE) ≤ 0.05</dt>
            <dd>{perm.unitsFWE05}</dd>
            <dt>null max |t|, 95%</dt>
            <dd>{fmt(perm.maxAbsTNull.q95, 2)}</dd>
          </dl>
        </>
      )}
    </div>
  );
}
