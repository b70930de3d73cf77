/**
 * The selection panel's lesion section (issue 9 in the viewer): lesion the selected units or cluster
 * (or, for a dose-response, the top k % of the layer by t), follow the job, and show per set the
 * lesion's effect against its random and spatial controls (table and the service's effects figure),
 * the specificity, and the dose-response curve with the controls' mean ± sd bands (uPlot). The job's
 * id goes into the view's URL (`lesion=`), so a link opens the same result.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { deleteJson, getJson, postJson } from '../api.ts';
import { useCatalog } from '../catalog.tsx';
import { fmt, fmtP } from '../format.ts';
import { useAsync } from '../hooks.ts';
import type { ControlTest, Lesion, LesionDose, LesionSetSummary } from '../types.ts';
import { Plot } from './Plot.tsx';
import type { SectionProps } from './SelectionPanel.tsx';
import { ErrorBox } from './ui.tsx';

const running = (l: Lesion) => l.state === 'queued' || l.state === 'running';
const SET_COLORS = ['#b2182b', '#2166ac', '#1b7837', '#762a83', '#e08214', '#35978f'];

/** "1, 2, 5" → [1, 2, 5] (null when any entry is not a percentage in (0, 100]). */
function parsePercents(s: string): number[] | null {
  const xs = s
    .split(/[\s,;]+/)
    .filter(Boolean)
    .map(Number);
  if (xs.length === 0 || xs.some((x) => !(x > 0 && x <= 100))) return null;
  return [...new Set(xs)].sort((a, b) => a - b);
}

function doseText(d: LesionDose['dose']): string {
  if (!d) return 'the selection';
  return 'percent' in d ? `top ${d.percent} %` : `top ${d.count}`;
}

function LesionForm(p: SectionProps & { onSubmitted: (id: string) => void }) {
  const cat = useCatalog();
  const model = cat.model(p.contrast.model);
  const sets = cat.sets.filter((s) => !model || s.modality === model.modality);
  const own = [...p.contrast.params.a, ...p.contrast.params.b];
  const [what, setWhat] = useState<'selection' | 'top'>('selection');
  const [percents, setPercents] = useState('1, 2, 5, 10');
  const [mode, setMode] = useState<'zero' | 'mean' | 'scale'>('zero');
  const [factor, setFactor] = useState(0.5);
  const [random, setRandom] = useState(10);
  const [spatial, setSpatial] = useState(10);
  const [seed, setSeed] = useState(1);
  const [chosen, setChosen] = useState<string[]>(own);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const doses = parsePercents(percents);
  const toggle = (id: string) => setChosen((c) => (c.includes(id) ? c.filter((x) => x !== id) : [...c, id]));
  const ordered = sets.filter((s) => chosen.includes(s.id)).sort((a, b) => chosen.indexOf(a.id) - chosen.indexOf(b.id));
  const submit = async (ev: Event) => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    const units =
      what === 'top'
        ? { from: 'top', contrast: p.contrast.id, layers: [p.layer.layer], percent: doses }
        : p.sel.kind === 'cluster'
          ? { from: 'cluster', contrast: p.contrast.id, layer: p.layer.layer, cluster: p.sel.id }
          : { from: 'explicit', model: p.contrast.model, units: { [p.layer.layer]: p.units } };
    try {
      const l = await postJson<Lesion>('/v1/lesions', {
        ...units,
        mode,
        ...(mode === 'scale' ? { factor } : {}),
        sets: ordered.map((s) => s.id),
        controls: { random, spatial, seed },
      });
      p.onSubmitted(l.id);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const num = (v: number, set: (n: number) => void, min: number, max: number, label: string, testid: string) => (
    <label class="small">
      {label}{' '}
      <input type="number" min={min} max={max} value={v} onInput={(e) => set(Math.max(min, Math.min(max, Math.round(Number(e.currentTarget.value) || 0))))} style={{ width: '4.5em' }} data-testid={testid} />
    </label>
  );
  return (
    <form onSubmit={submit} data-testid="lesion-form">
      <div class="set-checks small">
        <label class="inline">
          <input type="radio" name="lesion-what" checked={what === 'selection'} onChange={() => setWhat('selection')} data-testid="lesion-what-selection" />{' '}
          {p.sel.kind === 'cluster' ? `cluster ${p.sel.id}` : `the selection`} ({p.units.length} unit{p.units.length === 1 ? '' : 's'})
        </label>
        <label class="inline">
          <input type="radio" name="lesion-what" checked={what === 'top'} onChange={() => setWhat('top')} data-testid="lesion-what-top" /> dose-response: top k % of {p.layer.layer} by t, k ={' '}
          <input value={percents} onInput={(e) => setPercents(e.currentTarget.value)} disabled={what !== 'top'} aria-label="percentages" style={{ width: '8em' }} data-testid="lesion-percents" />
        </label>
      </div>
      <div class="inline-form">
        <label class="small">
          mode{' '}
          <select value={mode} onChange={(e) => setMode(e.currentTarget.value as typeof mode)} data-testid="lesion-mode">
            <option value="zero">zero</option>
            <option value="mean">mean (over the sets)</option>
            <option value="scale">scale</option>
          </select>
        </label>
        {mode === 'scale' && (
          <label class="small">
            factor{' '}
            <input type="number" step="any" value={factor} onInput={(e) => setFactor(Number(e.currentTarget.value))} style={{ width: '5em' }} data-testid="lesion-factor" />
          </label>
        )}
        {num(random, setRandom, 0, 1000, 'random controls', 'lesion-random')}
        {num(spatial, setSpatial, 0, 1000, 'spatial', 'lesion-spatial')}
        {num(seed, setSeed, 0, 4294967295, 'seed', 'lesion-seed')}
      </div>
      <div class="set-checks small">
        <span class="muted">measure on:</span>{' '}
        {sets.map((s) => (
          <label key={s.id} class="inline">
            <input type="checkbox" checked={chosen.includes(s.id)} onChange={() => toggle(s.id)} data-testid={`lesion-set-${s.name}`} /> {s.name}
          </label>
        ))}
      </div>
      <p class="small muted">
        {ordered.length >= 2 ? `Specificity: Δ ${ordered[0].name} − Δ ${ordered[1].name}. ` : ''}Random controls: the same number of units per layer from outside the lesion; spatial: contiguous patches of the same sizes elsewhere on the sheet.
      </p>
      <button type="submit" class="btn btn-primary" disabled={busy || ordered.length === 0 || (what === 'top' && !doses)} data-testid="lesion-run">
        {busy ? 'Submitting…' : what === 'top' ? `Lesion the top ${doses ? doses.join(', ') : '?'} %` : 'Lesion the selection'}
      </button>
      <ErrorBox error={error} testid="lesion-error" />
    </form>
  );
}

/** A lesion's test against one kind of control: z, p, and the controls' Δ (mean ± sd). */
function TestCell({ t, role }: { t: ControlTest; role: string }) {
  return (
    <td class="num nowrap">
      z <span data-testid={`lesion-${role}-z`}>{fmt(t.z, 2)}</span>
      <br />p <span data-testid={`lesion-${role}-p`}>{fmtP(t.p)}</span>
      <div class="muted small" title={`Δ of the ${t.n} ${role} controls: mean ± sd`}>
        <span data-testid={`lesion-${role}-mean`}>{t.n ? `${fmt(t.mean, 3)} ± ${fmt(t.sd, 3)}` : '–'}</span>
      </div>
    </td>
  );
}

function EffectsTable({ dose, measure, setNames }: { dose: LesionDose; measure: string; setNames: string[] }) {
  const sp = dose.specificity && dose.specificity.measure === measure ? dose.specificity : null;
  return (
    <div class="table-scroll">
      <table class="table compact lesion-table" data-testid="lesion-table">
        <thead>
          <tr>
            <th>set</th>
            <th class="num">Δ {measure}</th>
            <th class="num">vs random</th>
            <th class="num">vs spatial</th>
          </tr>
        </thead>
        <tbody>
          {dose.sets.map((s: LesionSetSummary) => (
            <tr key={s.set} data-testid="lesion-row">
              <td data-testid="lesion-set">{s.name}</td>
              <td class="num nowrap">
                <span data-testid="lesion-delta">{fmt(s.delta[measure], 4)}</span>
                <div class="muted small" title={`${measure}: intact → lesioned`}>
                  {fmt(s.intact[measure], 3)} → {fmt(s.lesion[measure], 3)}
                </div>
              </td>
              <TestCell t={s.random[measure]} role="random" />
              <TestCell t={s.spatial[measure]} role="spatial" />
            </tr>
          ))}
          {sp && (
            <tr data-testid="lesion-specificity">
              <td>
                specificity
                <div class="muted small">
                  Δ {setNames[sp.a]} − Δ {setNames[sp.b]}
                </div>
              </td>
              <td class="num">
                <span data-testid="lesion-delta">{fmt(sp.delta, 4)}</span>
              </td>
              <TestCell t={sp.random} role="random" />
              <TestCell t={sp.spatial} role="spatial" />
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

function DoseResponse({ lesion, measure }: { lesion: Lesion; measure: string }) {
  const r = lesion.results!;
  const built = useMemo(() => {
    const x = r.doses.map((d) => (d.dose && 'percent' in d.dose ? d.dose.percent : d.dose ? d.dose.count : NaN));
    const data: (number | null)[][] = [x];
    const series: uPlot.Series[] = [{ label: 'k' }];
    const bands: uPlot.Band[] = [];
    const val = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? null : v);
    r.sets.forEach((s, si) => {
      const color = SET_COLORS[si % SET_COLORS.length];
      data.push(r.doses.map((d) => val(d.sets[si].delta[measure])));
      series.push({ label: `${s.name}: lesion`, stroke: color, width: 2, points: { show: true, size: 6 } });
      for (const role of ['random', 'spatial'] as const) {
        const t = r.doses.map((d) => d.sets[si][role][measure]);
        if (t.every((c) => c.n === 0)) continue;
        const mean = data.length;
        data.push(t.map((c) => val(c.mean)));
        data.push(t.map((c) => (c.mean === null ? null : c.mean + (c.sd ?? 0))));
        data.push(t.map((c) => (c.mean === null ? null : c.mean - (c.sd ?? 0))));
        series.push({ label: `${s.name}: ${role} mean`, stroke: color, width: 1, dash: role === 'random' ? [6, 4] : [2, 3], points: { show: false } });
        series.push({ label: `${s.name}: ${role} + sd`, stroke: 'transparent', points: { show: false } });
        series.push({ label: `${s.name}: ${role} − sd`, stroke: 'transparent', points: { show: false } });
        bands.push({ series: [mean + 1, mean + 2], fill: role === 'random' ? `${color}22` : `${color}14` });
      }
    });
    const font = '11px system-ui, sans-serif';
    const byPercent = r.doses[0]?.dose !== null && r.doses[0]?.dose !== undefined && 'percent' in r.doses[0].dose;
    const opts: Omit<uPlot.Options, 'width' | 'height'> = {
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false } },
      axes: [
        { label: byPercent ? `units lesioned (% of each layer, top by t)` : 'units lesioned per layer', size: 36, labelSize: 18, font, labelFont: font },
        { label: `Δ ${measure} (positive = worse)`, size: 56, labelSize: 18, font, labelFont: font },
      ],
      series,
      bands,
    };
    return { data: data as uPlot.AlignedData, opts };
  }, [lesion.id, measure]);
  return (
    <div>
      <Plot opts={built.opts} data={built.data} height={240} testid="lesion-dose-plot" />
      <p class="small muted" data-testid="lesion-dose-legend">
        {r.sets.map((s, si) => (
          <span key={s.id}>
            <span style={{ color: SET_COLORS[si % SET_COLORS.length] }}>■</span> {s.name}{' '}
          </span>
        ))}
        · solid: the lesion · dashed: random controls, dotted: spatial controls (mean, band ± sd)
      </p>
    </div>
  );
}

function LesionResult({ id, link, onClear }: { id: string; link: string; onClear: () => void }) {
  const url = `/v1/lesions/${encodeURIComponent(id)}`;
  const job = useAsync(() => getJson<Lesion>(url), [url], { ms: 400, while: running });
  const [dose, setDose] = useState(0);
  const [measure, setMeasure] = useState<string | null>(null);
  const [cancelError, setCancelError] = useState<unknown>(null);
  const l = job.data;
  useEffect(() => {
    setDose(0);
    setMeasure(null);
  }, [id]);
  if (!l) return <ErrorBox error={job.error} testid="lesion-error" />;
  const pct = l.state === 'succeeded' ? 100 : Math.min(99, Math.round(100 * l.progress.fraction));
  const r = l.results;
  const m = measure ?? r?.primary ?? '';
  const d = r ? r.doses[Math.min(dose, r.doses.length - 1)] : null;
  const cancel = async () => {
    try {
      await deleteJson(url);
      job.reload();
    } catch (e) {
      setCancelError(e);
    }
  };
  return (
    <div data-testid="lesion-job">
      <p class="small">
        <span class={`badge badge-${l.state}`} data-testid="lesion-state">
          {l.state}
        </span>{' '}
        {l.label}{' '}
        <button type="button" class="btn-link small" onClick={onClear} data-testid="lesion-new">
          new lesion
        </button>
      </p>
      <div class="progress-wrap">
        <div class={`progress progress-${l.state}`} role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct} data-testid="lesion-progress">
          <div class="progress-fill" style={{ width: `${pct}%` }} />
        </div>
        <span class="progress-text">
          {l.progress.done} / {l.progress.total} evaluations · {l.configurations} configurations
        </span>
        {running(l) && (
          <button type="button" class="btn btn-small btn-warn" onClick={cancel} data-testid="lesion-cancel">
            Cancel
          </button>
        )}
      </div>
      <ErrorBox error={cancelError ?? job.error} testid="lesion-error" />
      {l.state === 'failed' && <p class="error-box small">{l.error}</p>}
      {r && d && (
        <div data-testid="lesion-result">
          <div class="inline-form small">
            {r.doses.length > 1 && (
              <label>
                dose{' '}
                <select value={dose} onChange={(e) => setDose(Number(e.currentTarget.value))} data-testid="lesion-dose">
                  {r.doses.map((x) => (
                    <option key={x.index} value={x.index}>
                      {doseText(x.dose)} ({l.doses[x.index]?.units ?? '?'} units)
                    </option>
                  ))}
                </select>
              </label>
            )}
            <label>
              measure{' '}
              <select value={m} onChange={(e) => setMeasure(e.currentTarget.value)} data-testid="lesion-measure">
                {r.measures.map((x) => (
                  <option key={x} value={x}>
                    {x}
                  </option>
                ))}
              </select>
            </label>
          </div>
          <p class="small muted">
            {l.doses[d.index]?.units} units lesioned ({Object.entries(l.doses[d.index]?.unitsPerLayer ?? {})
              .map(([k, n]) => `${k}: ${n}`)
              .join(', ')}
            ); Δ oriented as damage (positive = worse than intact); p = (1 + #controls with Δ ≥ the lesion's) / (1 + n), one-sided.
          </p>
          <EffectsTable dose={d} measure={m} setNames={r.sets.map((s) => s.name)} />
          {l.doses[d.index]?.controls.random || l.doses[d.index]?.controls.spatial ? (
            <a href={`${url}/effects.svg?dose=${d.index}&measure=${encodeURIComponent(m)}`} target="_blank" rel="noopener" title="open the figure">
              <img class="figure" src={`${url}/effects.png?dose=${d.index}&measure=${encodeURIComponent(m)}`} alt="the lesion's effect per set against the control distributions" data-testid="lesion-effects" />
            </a>
          ) : null}
          {r.doses.length > 1 && (
            <>
              <h4 class="small">Dose-response</h4>
              <DoseResponse lesion={l} measure={m} />
            </>
          )}
          <p class="small">
            <a href={url} target="_blank" rel="noopener">
              JSON
            </a>{' '}
            · <a href={`${url}/configs`}>configurations</a> ·{' '}
            <a href={`${url}/values.npy?measure=${r.output.kind === 'lm' ? 'ce' : 'correct'}&effect=true`}>per-stimulus effects (.npy)</a>
            {r.doses.length > 1 && (
              <>
                {' '}
                · <a href={`${url}/dose-response.svg?measure=${encodeURIComponent(m)}`}>dose-response.svg</a>
              </>
            )}{' '}
            ·{' '}
            <a href={link} data-testid="lesion-link">
              link to this view
            </a>
          </p>
        </div>
      )}
    </div>
  );
}

export function LesionSection(p: SectionProps) {
  return <div data-testid="lesion">{p.lesion ? <LesionResult id={p.lesion} link={p.link} onClear={() => p.onLesion(null)} /> : <LesionForm {...p} onSubmitted={(id) => p.onLesion(id)} />}</div>;
}
