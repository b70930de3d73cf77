/**
 * The panel for a selected unit or region. It is a list of sections that all take the same props:
 * the statistics, the per-stimulus response distribution from kept activations, and mask creation.
 * Top/bottom stimuli and response profiles (issue 10) are in Encoding.tsx, the lesion section (issue 9) in
 * Lesion.tsx.
 */
import type { FunctionComponent } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { cached, getBinary, getJson, postJson } from '../api.ts';
import { fmt, fmtP } from '../format.ts';
import { useAsync } from '../hooks.ts';
import { parseNpy, type Npy } from '../npy.ts';
import type { Cluster, Contrast, LayerResult, Mask, StimulusRef } from '../types.ts';
import type { Selection } from '../view-state.ts';
import { Plot } from './Plot.tsx';
import { ErrorBox } from './ui.tsx';
import { Profile, TopStimuli } from './Encoding.tsx';
import { LesionSection } from './Lesion.tsx';

export interface SectionProps {
  contrast: Contrast;
  layer: LayerResult;
  sel: Exclude<Selection, null>;
  /** The units of the selection, ascending. */
  units: number[];
  cluster: Cluster | null;
  modelName: string;
  /** Names of conditions A and B. */
  conds: [string, string];
  onSelect: (s: Selection) => void;
  /** The lesion job shown in the lesion section (from the URL), and how to change it. */
  lesion: string | null;
  onLesion: (id: string | null) => void;
  /** The URL of the current view (deep link). */
  link: string;
}

const v = (a: (number | null)[], u: number) => a[u] ?? NaN;

function UnitStats({ layer, units, conds, onSelect }: SectionProps) {
  const u = units[0];
  const k = layer.clusterLabel?.[u] ?? 0;
  return (
    <div>
      <table class="table compact kv-table" data-testid="unit-stats">
        <tbody>
          <tr>
            <th>t</th>
            <td class="num" data-testid="unit-t">
              {fmt(v(layer.t, u), 3)}
            </td>
            <th>df</th>
            <td class="num">{fmt(v(layer.df, u), 1)}</td>
          </tr>
          <tr>
            <th>p</th>
            <td class="num">{fmtP(v(layer.p, u))}</td>
            <th>q</th>
            <td class="num">{fmtP(v(layer.q, u))}</td>
          </tr>
          <tr>
            <th>d</th>
            <td class="num">{fmt(v(layer.d, u), 3)}</td>
            <th>g</th>
            <td class="num">{fmt(v(layer.g, u), 3)}</td>
          </tr>
          {layer.pFWE && (
            <tr>
              <th>p(FWE)</th>
              <td class="num">{fmtP(v(layer.pFWE, u))}</td>
              <th />
              <td />
            </tr>
          )}
          <tr>
            <th>mean {conds[0]}</th>
            <td class="num" colSpan={3}>
              {fmt(v(layer.meanA, u), 4)} <span class="muted">± {fmt(Math.sqrt(v(layer.varA, u)), 4)} sd</span>
            </td>
          </tr>
          <tr>
            <th>mean {conds[1]}</th>
            <td class="num" colSpan={3}>
              {fmt(v(layer.meanB, u), 4)} <span class="muted">± {fmt(Math.sqrt(v(layer.varB, u)), 4)} sd</span>
            </td>
          </tr>
        </tbody>
      </table>
      {k > 0 && (
        <p class="small">
          In cluster {k}.{' '}
          <button type="button" class="btn-link" onClick={() => onSelect({ kind: 'cluster', id: k })}>
            Select the cluster
          </button>
        </p>
      )}
    </div>
  );
}

function RegionStats({ layer, units, cluster, onSelect }: SectionProps) {
  let sumT = 0;
  let pos = 0;
  let peak = units[0];
  for (const u of units) {
    const t = v(layer.t, u);
    sumT += t;
    if (t > 0) pos++;
    if (Math.abs(t) > Math.abs(v(layer.t, peak))) peak = u;
  }
  const shown = units.slice(0, 40);
  return (
    <div data-testid="region-stats">
      <dl class="kv">
        <dt>units</dt>
        <dd>
          {units.length} <span class="muted">({pos} with t &gt; 0)</span>
        </dd>
        <dt>mean t</dt>
        <dd>{fmt(sumT / units.length, 3)}</dd>
        {cluster && (
          <>
            <dt>mass Σ|t|</dt>
            <dd>{fmt(cluster.mass, 1)}</dd>
            <dt>centroid</dt>
            <dd>
              ({fmt(cluster.centroidRow, 1)}, {fmt(cluster.centroidCol, 1)})
            </dd>
            {cluster.pMass !== null && (
              <>
                <dt>p FWE (mass)</dt>
                <dd>{fmtP(cluster.pMass)}</dd>
              </>
            )}
          </>
        )}
        <dt>peak</dt>
        <dd>
          <button type="button" class="btn-link" onClick={() => onSelect({ kind: 'units', units: [peak] })}>
            unit {peak}
          </button>{' '}
          t = {fmt(v(layer.t, peak), 2)}
        </dd>
      </dl>
      <div class="unit-list small">
        {shown.map((u) => (
          <button type="button" key={u} class="unit-chip" onClick={() => onSelect({ kind: 'units', units: [u] })}>
            {u}
          </button>
        ))}
        {units.length > shown.length && <span class="muted"> … {units.length - shown.length} more</span>}
      </div>
    </div>
  );
}

interface Activations {
  acts: Npy;
  rows: Npy;
  stimuli: StimulusRef[];
}

function loadActivations(id: string, layer: string): Promise<Activations> {
  const base = `/v1/contrasts/${encodeURIComponent(id)}/layers/${encodeURIComponent(layer)}`;
  return cached(`${base}/activations`, async () => {
    const [a, r, s] = await Promise.all([
      getBinary(`${base}/activations.npy`),
      getBinary(`${base}/activations.rows.npy`),
      getJson<{ items: StimulusRef[] }>(`/v1/contrasts/${encodeURIComponent(id)}/stimuli`),
    ]);
    return { acts: parseNpy(a), rows: parseNpy(r), stimuli: s.items };
  });
}

const COLORS = { a: '#b2182b', b: '#2166ac' };

function ResponseDistribution({ contrast, layer, units, conds }: SectionProps) {
  const kept = contrast.params.keepActivations;
  const r = useAsync(() => (kept ? loadActivations(contrast.id, layer.layer) : Promise.resolve(null)), [contrast.id, layer.layer, kept]);
  const hist = useMemo(() => {
    const d = r.data;
    if (!d) return null;
    const nUnits = d.acts.shape[1];
    const nRows = d.acts.shape[0];
    const resp = { a: [] as number[], b: [] as number[] };
    for (let row = 0; row < nRows; row++) {
      let s = 0;
      for (const u of units) s += d.acts.data[row * nUnits + u];
      const stim = d.stimuli[d.rows.data[row * 2]];
      (stim?.condition === 'a' ? resp.a : resp.b).push(s / units.length);
    }
    const all = [...resp.a, ...resp.b];
    let lo = Math.min(...all);
    let hi = Math.max(...all);
    if (!(hi > lo)) {
      lo -= 0.5;
      hi += 0.5;
    }
    const nb = Math.max(8, Math.min(30, Math.round(Math.sqrt(all.length) * 1.5)));
    const w = (hi - lo) / nb;
    const edges = Array.from({ length: nb + 1 }, (_, i) => lo + i * w);
    const count = (xs: number[]) => {
      const c = new Array<number>(nb + 1).fill(0);
      for (const x of xs) c[Math.min(nb - 1, Math.floor((x - lo) / w))] += 1 / xs.length;
      return c;
    };
    const stats = (xs: number[]) => {
      const m = xs.reduce((a, b) => a + b, 0) / xs.length;
      const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) * (b - m), 0) / Math.max(1, xs.length - 1));
      return { n: xs.length, m, sd };
    };
    return { data: [edges, count(resp.a), count(resp.b)] as uPlot.AlignedData, a: stats(resp.a), b: stats(resp.b), tokens: d.rows.data.some((_, i) => i % 2 === 1 && d.rows.data[i] >= 0) };
  }, [r.data, units]);
  const opts = useMemo<Omit<uPlot.Options, 'width' | 'height'>>(() => {
    const step = uPlot.paths.stepped!({ align: 1 });
    const font = '11px system-ui, sans-serif';
    return {
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(0.05, max * 1.08)] } },
      axes: [
        { label: units.length > 1 ? `mean activation over ${units.length} units` : 'activation', size: 36, labelSize: 18, font, labelFont: font },
        { label: 'fraction of stimuli', size: 46, labelSize: 18, font, labelFont: font },
      ],
      series: [
        { label: 'bin from', value: (_u, x) => (x === null ? '–' : x.toFixed(3)) },
        { label: conds[0], stroke: COLORS.a, fill: 'rgba(178,24,43,0.18)', width: 1.5, paths: step, points: { show: false }, value: (_u, x) => (x === null ? '–' : x.toFixed(3)) },
        { label: conds[1], stroke: COLORS.b, fill: 'rgba(33,102,172,0.18)', width: 1.5, paths: step, points: { show: false }, value: (_u, x) => (x === null ? '–' : x.toFixed(3)) },
      ],
    };
  }, [units.length, conds]);
  if (!kept) {
    return (
      <p class="muted small" data-testid="distribution-missing">
        This contrast did not keep its activations, so per-stimulus responses cannot be shown. Run it again with “keep activations” checked to see them.
      </p>
    );
  }
  return (
    <div data-testid="distribution">
      <ErrorBox error={r.error} />
      {hist ? (
        <>
          <Plot opts={opts} data={hist.data} height={180} testid="distribution-plot" />
          <p class="small muted">
            <span style={{ color: COLORS.a }}>■</span> {conds[0]}: {fmt(hist.a.m, 3)} ± {fmt(hist.a.sd, 3)} (n {hist.a.n}) ·{' '}
            <span style={{ color: COLORS.b }}>■</span> {conds[1]}: {fmt(hist.b.m, 3)} ± {fmt(hist.b.sd, 3)} (n {hist.b.n}){hist.tokens ? ' · one row per token' : ''}
          </p>
        </>
      ) : (
        r.loading && <p class="muted small">Loading kept activations…</p>
      )}
    </div>
  );
}

function MaskMaker({ contrast, layer, units, sel, cluster, modelName }: SectionProps) {
  const what = cluster ? `cluster ${cluster.id}` : units.length === 1 ? `unit ${units[0]}` : `${units.length} units`;
  const [name, setName] = useState('');
  const [control, setControl] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [made, setMade] = useState<{ mask: Mask; control: Mask | null } | null>(null);
  const key = `${contrast.id}|${layer.layer}|${units.join(',')}`;
  useEffect(() => {
    setMade(null);
    setError(null);
    setName(`${modelName} ${layer.layer} ${what}`);
  }, [key]);
  const make = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { name: name.trim() || `${modelName} ${layer.layer} ${what}`, kind: 'explicit', model: contrast.model, units: { [layer.layer]: units }, ...(control ? { control: { seed: 1 } } : {}) };
      setMade(await postJson<{ mask: Mask; control: Mask | null }>('/v1/masks', body));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="mask-maker" onSubmit={make}>
      <input value={name} onInput={(e) => setName(e.currentTarget.value)} aria-label="mask name" data-testid="mask-name" maxLength={128} />
      <label class="inline small">
        <input type="checkbox" checked={control} onChange={(e) => setControl(e.currentTarget.checked)} /> also a matched random control (same count, outside the mask,
        seed 1)
      </label>
      <div>
        <button type="submit" class="btn btn-primary" disabled={busy} data-testid="make-mask">
          {busy ? 'Making…' : `Make mask from selection (${units.length} unit${units.length === 1 ? '' : 's'})`}
        </button>
      </div>
      <ErrorBox error={error} testid="mask-error" />
      {made && (
        <p class="ok-box small" data-testid="mask-result">
          Mask <a href={`/v1/masks/${made.mask.id}`} class="mono">{made.mask.id}</a> “{made.mask.name}”: {made.mask.nUnits} units ({sel.kind === 'cluster' ? 'cluster' : 'explicit'}
          ) ·{' '}
          <a href={`/v1/masks/${made.mask.id}/layers/${encodeURIComponent(layer.layer)}/map.png`} target="_blank" rel="noopener">
            map.png
          </a>
          {made.control && (
            <>
              {' '}
              · control <a href={`/v1/masks/${made.control.id}`} class="mono">{made.control.id}</a>
            </>
          )}
        </p>
      )}
    </form>
  );
}

const SECTIONS: { title: string; show: (p: SectionProps) => boolean; C: FunctionComponent<SectionProps> }[] = [
  { title: 'Statistics', show: (p) => p.units.length === 1 && p.sel.kind === 'units', C: UnitStats },
  { title: 'Region', show: (p) => p.units.length > 1 || p.sel.kind === 'cluster', C: RegionStats },
  { title: 'Responses per condition', show: () => true, C: ResponseDistribution },
  { title: 'Mask', show: () => true, C: MaskMaker },
  { title: 'Top stimuli', show: () => true, C: TopStimuli },
  { title: 'Response profile', show: () => true, C: Profile },
  { title: 'Lesion', show: () => true, C: LesionSection },
];

export function SelectionPanel(p: SectionProps & { onClose: () => void }) {
  const u = p.units[0];
  const title =
    p.sel.kind === 'cluster'
      ? `Cluster ${p.sel.id} · ${p.units.length} units`
      : p.units.length === 1
        ? `Unit ${u} · row ${Math.floor(p.layer.cellOfUnit[u] / p.layer.cols)}, col ${p.layer.cellOfUnit[u] % p.layer.cols}`
        : `${p.units.length} units`;
  return (
    <section class="card selection" data-testid="selection-panel">
      <header class="card-head">
        <h2 data-testid="selection-title">{title}</h2>
        <div class="card-actions">
          <span class="muted small">{p.layer.layer}</span>
          <button type="button" class="btn btn-ghost btn-small" onClick={p.onClose} aria-label="clear selection">
            ✕
          </button>
        </div>
      </header>
      <div class="card-body">
        {p.units.length === 0 ? (
          <p class="muted">The selection holds no units of this layer.</p>
        ) : (
          SECTIONS.filter((s) => s.show(p)).map((s) => (
            <div class="section" key={s.title}>
              <h3>{s.title}</h3>
              <s.C {...p} />
            </div>
          ))
        )}
      </div>
    </section>
  );
}
