/**
 * Selection panel sections for what a region encodes (issue 10): the selection's top and bottom
 * stimuli over a chosen set (text with per-token activations, images as thumbnails, the response
 * histogram), and its response profile over chosen sets, measured as an independent localizer (the
 * sets of the contrast the selection was made on are never measured).
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { getJson, postJson } from '../api.ts';
import { useCatalog } from '../catalog.tsx';
import { fmt } from '../format.ts';
import { useAsync } from '../hooks.ts';
import type { SectionProps } from './SelectionPanel.tsx';
import { ErrorBox } from './ui.tsx';

interface Example {
  idx: number;
  set: string;
  setName: string;
  position: number;
  label: string | null;
  text: string | null;
  value: number | null;
  tokens?: { tokens: string[]; values: (number | null)[] };
}

interface EncodingJob<R> {
  id: string;
  state: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  error: string | null;
  progress: { done: number; total: number; fraction: number };
  result?: R | null;
}

interface TopResult {
  n: number;
  mean: number | null;
  top: Example[];
  bottom: Example[];
}

interface CI {
  mean: number | null;
  lo: number | null;
  hi: number | null;
  n: number;
}

interface ProfileResult {
  categories: { set: string; name: string; items: number; measured: number; excluded: number; roi: CI; control: CI | null }[];
  roiUnits: number[];
}

const running = (j: EncodingJob<unknown>) => j.state === 'queued' || j.state === 'running';

function regionOf(p: SectionProps) {
  return p.sel.kind === 'cluster'
    ? { kind: 'cluster', contrast: p.contrast.id, layer: p.layer.layer, cluster: p.sel.id }
    : { kind: 'units', layer: p.layer.layer, units: p.units, contrast: p.contrast.id };
}

/** Polls a job until it leaves queued/running. */
function useJob<R>(url: string | null) {
  return useAsync(() => (url ? getJson<EncodingJob<R>>(url) : Promise.resolve(null)), [url], { ms: 400, while: (j) => j !== null && running(j) });
}

function Tokens({ e, scale }: { e: Example; scale: number }) {
  const t = e.tokens!;
  return (
    <span class="tokens">
      {t.tokens.map((tok, i) => {
        const v = t.values[i] ?? 0;
        const a = Math.min(1, Math.abs(v) / scale);
        const bg = v >= 0 ? `rgba(213,94,0,${(0.85 * a).toFixed(3)})` : `rgba(0,114,178,${(0.85 * a).toFixed(3)})`;
        return (
          <span key={i} class="token" style={{ background: bg }} title={`${tok}: ${fmt(v, 4)}`}>
            {tok}
          </span>
        );
      })}
    </span>
  );
}

function ExampleList({ title, list, testid }: { title: string; list: Example[]; testid: string }) {
  const scale = useMemo(() => {
    let m = 0;
    for (const e of list) for (const v of e.tokens?.values ?? []) m = Math.max(m, Math.abs(v ?? 0));
    return m || 1;
  }, [list]);
  return (
    <div class="examples" data-testid={testid}>
      <h4 class="small">{title}</h4>
      <ol class="example-list">
        {list.map((e) => (
          <li key={e.idx} class="example" data-testid={`${testid}-item`}>
            <span class="num mono">{fmt(e.value ?? NaN, 3)}</span>{' '}
            {e.text !== null ? (
              e.tokens ? <Tokens e={e} scale={scale} /> : <span>{e.text}</span>
            ) : (
              <img class="thumb" src={`/v1/stimulus-sets/${encodeURIComponent(e.set)}/items/${e.position}`} alt={e.label ?? ''} title={e.label ?? ''} width={48} height={48} loading="lazy" />
            )}
            {e.text === null && <span class="muted small"> {e.label}</span>}
          </li>
        ))}
      </ol>
    </div>
  );
}

function setsOfModel(p: SectionProps) {
  const cat = useCatalog();
  const model = cat.model(p.contrast.model);
  return cat.sets.filter((s) => !model || s.modality === model.modality);
}

export function TopStimuli(p: SectionProps) {
  const sets = setsOfModel(p);
  const preferred = sets.find((s) => s.name === 'corpus' || s.name === 'heldout') ?? sets[0];
  const [set, setSet] = useState(preferred?.id ?? '');
  const [k, setK] = useState(10);
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const key = `${p.contrast.id}|${p.layer.layer}|${p.units.join(',')}`;
  useEffect(() => {
    setUrl(null);
    setError(null);
  }, [key]);
  useEffect(() => {
    if (!set && preferred) setSet(preferred.id);
  }, [preferred?.id]);
  const job = useJob<TopResult>(url);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const j = await postJson<EncodingJob<TopResult>>('/v1/top-stimuli', { model: p.contrast.model, region: regionOf(p), sets: set, k, bottomK: k, quantiles: 5, perQuantile: 2 });
      setUrl(`/v1/top-stimuli/${j.id}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const j = job.data;
  return (
    <div data-testid="top-stimuli">
      <form class="inline-form" onSubmit={submit}>
        <select value={set} onChange={(e) => setSet(e.currentTarget.value)} aria-label="stimulus set" data-testid="top-set">
          {sets.map((s) => (
            <option key={s.id} value={s.id}>
              {s.name} ({s.nItems})
            </option>
          ))}
        </select>
        <label class="small">
          k <input type="number" min={1} max={50} value={k} onInput={(e) => setK(Math.max(1, Math.min(50, Number(e.currentTarget.value) || 10)))} style={{ width: '4em' }} />
        </label>
        <button type="submit" class="btn btn-primary" disabled={busy || !set || (j ? running(j) : false)} data-testid="top-run">
          Find top stimuli
        </button>
      </form>
      <ErrorBox error={error ?? job.error} testid="top-error" />
      {j && running(j) && (
        <p class="muted small" data-testid="top-progress">
          {j.state}… {j.progress.done}/{j.progress.total}
        </p>
      )}
      {j && j.state === 'failed' && <p class="error-box small">{j.error}</p>}
      {j && j.state === 'succeeded' && j.result && (
        <div data-testid="top-result">
          <p class="small muted">
            {j.result.n} stimuli, mean response {fmt(j.result.mean ?? NaN, 3)} · <a href={`${url}`}>JSON</a>
          </p>
          <ExampleList title="drive it most" list={j.result.top} testid="top-list" />
          <ExampleList title="drive it least" list={j.result.bottom} testid="bottom-list" />
          <img class="figure" src={`${url}/histogram.png`} alt="response histogram" data-testid="top-histogram" />
        </div>
      )}
    </div>
  );
}

export function Profile(p: SectionProps) {
  const sets = setsOfModel(p);
  const own = new Set([...p.contrast.params.a, ...p.contrast.params.b]);
  const [chosen, setChosen] = useState<string[]>([]);
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const key = `${p.contrast.id}|${p.layer.layer}|${p.units.join(',')}`;
  useEffect(() => {
    setUrl(null);
    setError(null);
  }, [key]);
  const job = useJob<ProfileResult>(url);
  const toggle = (id: string) => setChosen((c) => (c.includes(id) ? c.filter((x) => x !== id) : [...c, id]));
  const submit = async (ev: Event) => {
    ev.preventDefault();
    setError(null);
    try {
      const j = await postJson<EncodingJob<ProfileResult>>('/v1/profiles', { region: regionOf(p), measure: chosen, resamples: 1000 });
      setUrl(`/v1/profiles/${j.id}`);
    } catch (err) {
      setError(err);
    }
  };
  const j = job.data;
  return (
    <div data-testid="profile">
      <p class="small muted">Mean response of the selection to each set, with 95 % bootstrap CIs and a matched random control; items of this contrast's own sets are never measured.</p>
      <form onSubmit={submit}>
        <div class="set-checks small">
          {sets
            .filter((s) => !own.has(s.id))
            .map((s) => (
              <label key={s.id} class="inline">
                <input type="checkbox" checked={chosen.includes(s.id)} onChange={() => toggle(s.id)} data-testid={`profile-set-${s.name}`} /> {s.name}
              </label>
            ))}
        </div>
        <button type="submit" class="btn btn-primary" disabled={chosen.length === 0 || (j ? running(j) : false)} data-testid="profile-run">
          Measure the profile
        </button>
      </form>
      <ErrorBox error={error ?? job.error} testid="profile-error" />
      {j && running(j) && <p class="muted small">{j.state}…</p>}
      {j && j.state === 'failed' && <p class="error-box small">{j.error}</p>}
      {j && j.state === 'succeeded' && j.result && (
        <div data-testid="profile-result">
          <table class="table compact">
            <thead>
              <tr>
                <th>set</th>
                <th class="num">n</th>
                <th class="num">mean [95 % CI]</th>
                <th class="num">control</th>
              </tr>
            </thead>
            <tbody>
              {j.result.categories.map((c) => (
                <tr key={c.set} data-testid="profile-row">
                  <td>{c.name}</td>
                  <td class="num">{c.measured}</td>
                  <td class="num">
                    {fmt(c.roi.mean ?? NaN, 3)} [{fmt(c.roi.lo ?? NaN, 3)}, {fmt(c.roi.hi ?? NaN, 3)}]
                  </td>
                  <td class="num">{c.control ? `${fmt(c.control.mean ?? NaN, 3)} [${fmt(c.control.lo ?? NaN, 3)}, ${fmt(c.control.hi ?? NaN, 3)}]` : '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <img class="figure" src={`${url}/profile.png`} alt="response profile" data-testid="profile-figure" />
        </div>
      )}
    </div>
  );
}
