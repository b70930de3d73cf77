/** The form that submits a contrast (or a battery) and follows it to its result. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { postJson } from '../api.ts';
import { useCatalog } from '../catalog.tsx';
import { navigate } from '../router.ts';
import type { Contrast } from '../types.ts';
import { Card, ErrorBox, Loading } from './ui.tsx';

type Mode = 'contrast' | 'battery';

const optNum = (s: string): number | undefined => (s.trim() === '' ? undefined : Number(s));

function SetPicker(props: { name: string; sets: { id: string; name: string; nItems: number }[]; chosen: string[]; other: string[]; onChange: (ids: string[]) => void }) {
  return (
    <div class="set-picker" role="group" aria-label={props.name}>
      {props.sets.map((s) => {
        const taken = props.other.includes(s.id);
        const on = props.chosen.includes(s.id);
        return (
          <label key={s.id} class={`chip ${on ? 'chip-on' : ''} ${taken ? 'chip-off' : ''}`} title={taken ? 'already in the other condition' : ''}>
            <input
              type="checkbox"
              checked={on}
              disabled={taken}
              data-testid={`form-${props.name}-${s.name}`}
              onChange={(e) => props.onChange(e.currentTarget.checked ? [...props.chosen, s.id] : props.chosen.filter((x) => x !== s.id))}
            />
            {s.name} <span class="muted">{s.nItems}</span>
          </label>
        );
      })}
    </div>
  );
}

export function ContrastForm({ query }: { query: URLSearchParams }) {
  const cat = useCatalog();
  const [mode, setMode] = useState<Mode>(query.get('mode') === 'battery' ? 'battery' : 'contrast');
  const [modelKey, setModelKey] = useState(query.get('model') ?? '');
  const model = cat.model(modelKey) ?? cat.models[0];
  const sets = useMemo(() => cat.sets.filter((s) => !model || s.modality === model.modality), [cat.sets, model]);
  const [a, setA] = useState<string[]>([]);
  const [b, setB] = useState<string[]>([]);
  const [categories, setCategories] = useState<string[]>([]);
  const [layers, setLayers] = useState<string[] | null>(null);
  const [test, setTest] = useState('welch');
  const [correction, setCorrection] = useState('bh');
  const [scope, setScope] = useState('layer');
  const [alpha, setAlpha] = useState('0.05');
  const [keep, setKeep] = useState(true);
  const [label, setLabel] = useState('');
  const [clScale, setClScale] = useState('p');
  const [clThr, setClThr] = useState('');
  const [conn, setConn] = useState('8');
  const [minSize, setMinSize] = useState('1');
  const [tfce, setTfce] = useState(false);
  const [moranPerm, setMoranPerm] = useState('999');
  const [perms, setPerms] = useState('');
  const [relSplits, setRelSplits] = useState('');
  const [relThr, setRelThr] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  // A different model may have other layers and another modality: reset what no longer fits.
  useEffect(() => {
    setLayers(null);
    const ok = (id: string) => sets.some((s) => s.id === id);
    setA((x) => x.filter(ok));
    setB((x) => x.filter(ok));
    setCategories((x) => x.filter(ok));
  }, [model?.id, sets]);

  if (cat.loading && !cat.models.length) return <Loading what="models" />;
  if (!model) return <ErrorBox error={cat.error ?? new Error('no models are registered')} />;

  const chosenLayers = layers ?? model.layers.map((l) => l.name);
  const analysis = {
    clusters: { scale: clScale, threshold: optNum(clThr), connectivity: Number(conn), minSize: optNum(minSize), tfce },
    topography: { permutations: optNum(moranPerm) },
    permutations: optNum(perms) ? { n: optNum(perms) } : null,
    reliability: optNum(relSplits) ? { splits: optNum(relSplits), threshold: optNum(relThr) } : null,
  };
  const common = {
    model: model.name,
    layers: chosenLayers,
    test,
    correction,
    correctionScope: scope,
    alpha: Number(alpha),
    analysis: JSON.parse(JSON.stringify(analysis)) as object,
  };
  const valid =
    chosenLayers.length > 0 && (mode === 'contrast' ? a.length > 0 && b.length > 0 : categories.length >= 2) && Number(alpha) > 0 && Number(alpha) < 1;

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === 'contrast') {
        const c = await postJson<Contrast>('/v1/contrasts', { ...common, a, b, keepActivations: keep, ...(label.trim() ? { label: label.trim() } : {}) });
        navigate(`/contrasts/${c.id}?model=${encodeURIComponent(model.name)}`);
      } else {
        const r = await postJson<{ id: string }>('/v1/batteries', { ...common, categories: categories.map((id) => cat.set(id)?.name ?? id) });
        navigate(`/batteries/${r.id}`);
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="page narrow">
      <div class="page-head">
        <h1>New {mode}</h1>
        <div class="segmented" role="tablist">
          {(['contrast', 'battery'] as Mode[]).map((m) => (
            <button type="button" key={m} role="tab" aria-selected={mode === m} class={mode === m ? 'on' : ''} onClick={() => setMode(m)}>
              {m === 'contrast' ? 'A vs B' : 'Battery (each vs rest)'}
            </button>
          ))}
        </div>
      </div>
      <form onSubmit={submit} data-testid="contrast-form">
        <Card title="What to compare">
          <div class="form-grid">
            <label for="f-model">Model</label>
            <select id="f-model" value={model.name} onChange={(e) => setModelKey(e.currentTarget.value)} data-testid="form-model">
              {cat.models.map((m) => (
                <option key={m.id} value={m.name}>
                  {m.name} ({m.modality})
                </option>
              ))}
            </select>
            {mode === 'contrast' ? (
              <>
                <span class="label">Condition A</span>
                <SetPicker name="a" sets={sets} chosen={a} other={b} onChange={setA} />
                <span class="label">Condition B</span>
                <SetPicker name="b" sets={sets} chosen={b} other={a} onChange={setB} />
                <span />
                <p class="muted small">Several sets in one condition are pooled (e.g. faces vs bodies + places + objects). Positive t means A &gt; B.</p>
              </>
            ) : (
              <>
                <span class="label">Categories</span>
                <SetPicker name="cat" sets={sets} chosen={categories} other={[]} onChange={setCategories} />
                <span />
                <p class="muted small">One contrast per category against the union of the others, all in one pass through the model.</p>
              </>
            )}
            <span class="label">Layers</span>
            <div class="set-picker">
              {model.layers.map((l) => (
                <label key={l.name} class={`chip ${chosenLayers.includes(l.name) ? 'chip-on' : ''}`}>
                  <input
                    type="checkbox"
                    checked={chosenLayers.includes(l.name)}
                    data-testid={`form-layer-${l.name}`}
                    onChange={(e) => setLayers(e.currentTarget.checked ? [...chosenLayers, l.name] : chosenLayers.filter((x) => x !== l.name))}
                  />
                  {l.name}{' '}
                  <span class="muted">
                    {l.rows}×{l.cols}
                  </span>
                </label>
              ))}
            </div>
            {mode === 'contrast' && (
              <>
                <label for="f-label">Label</label>
                <input id="f-label" value={label} onInput={(e) => setLabel(e.currentTarget.value)} placeholder="default: A > B" maxLength={200} />
              </>
            )}
          </div>
        </Card>
        <Card title="Statistics">
          <div class="form-grid">
            <label for="f-test">Test</label>
            <select id="f-test" value={test} onChange={(e) => setTest(e.currentTarget.value)}>
              <option value="welch">Welch t (unequal variances)</option>
              <option value="student">Student t (pooled variance)</option>
            </select>
            <label for="f-corr">Correction</label>
            <div class="row gap">
              <select id="f-corr" value={correction} onChange={(e) => setCorrection(e.currentTarget.value)}>
                <option value="bh">Benjamini–Hochberg FDR</option>
                <option value="by">Benjamini–Yekutieli FDR</option>
                <option value="holm">Holm FWE</option>
                <option value="bonferroni">Bonferroni FWE</option>
                <option value="none">none</option>
              </select>
              <select value={scope} onChange={(e) => setScope(e.currentTarget.value)} aria-label="correction scope">
                <option value="layer">within each layer</option>
                <option value="all">across all layers</option>
              </select>
              <label class="inline">
                α <input type="number" step="any" min="0.0001" max="0.9999" value={alpha} onInput={(e) => setAlpha(e.currentTarget.value)} class="w-num" />
              </label>
            </div>
            {mode === 'contrast' && (
              <>
                <span class="label">Activations</span>
                <label class="inline">
                  <input type="checkbox" checked={keep} onChange={(e) => setKeep(e.currentTarget.checked)} data-testid="form-keep" /> keep the pooled stimuli × units
                  matrix (the unit panel plots per-stimulus responses from it)
                </label>
              </>
            )}
          </div>
        </Card>
        <details class="card">
          <summary class="card-head">
            <h2>Analysis options</h2>
            <span class="muted small">clusters, topography, permutations, reliability</span>
          </summary>
          <div class="card-body form-grid">
            <span class="label">Clusters</span>
            <div class="row gap wrap">
              <select value={clScale} onChange={(e) => setClScale(e.currentTarget.value)} aria-label="cluster-forming scale">
                <option value="p">uncorrected p ≤</option>
                <option value="abs-t">|t| ≥</option>
              </select>
              <input type="number" step="any" min="0" value={clThr} onInput={(e) => setClThr(e.currentTarget.value)} placeholder={clScale === 'p' ? '0.001' : '3'} class="w-num" aria-label="cluster-forming threshold" />
              <select value={conn} onChange={(e) => setConn(e.currentTarget.value)} aria-label="connectivity">
                <option value="8">8-connected</option>
                <option value="4">4-connected</option>
              </select>
              <label class="inline">
                min size <input type="number" min="1" step="1" value={minSize} onInput={(e) => setMinSize(e.currentTarget.value)} class="w-num" />
              </label>
              <label class="inline">
                <input type="checkbox" checked={tfce} onChange={(e) => setTfce(e.currentTarget.checked)} /> TFCE
              </label>
            </div>
            <label for="f-moran">Moran's I permutations</label>
            <input id="f-moran" type="number" min="1" step="1" value={moranPerm} onInput={(e) => setMoranPerm(e.currentTarget.value)} class="w-num" />
            <label for="f-perm">Label permutations</label>
            <div class="row gap">
              <input id="f-perm" type="number" min="1" step="1" value={perms} onInput={(e) => setPerms(e.currentTarget.value)} placeholder="off" class="w-num" />
              <span class="muted small">max-|t| FWE p per unit and cluster FWE p (enables the pFWE map)</span>
            </div>
            <label for="f-rel">Split-half reliability</label>
            <div class="row gap">
              <input id="f-rel" type="number" min="1" step="1" value={relSplits} onInput={(e) => setRelSplits(e.currentTarget.value)} placeholder="off" class="w-num" />
              <span class="muted small">splits; Dice at |t| ≥</span>
              <input type="number" step="any" min="0" value={relThr} onInput={(e) => setRelThr(e.currentTarget.value)} placeholder="3" class="w-num" aria-label="reliability threshold" />
            </div>
          </div>
        </details>
        <ErrorBox error={error} testid="form-error" />
        <div class="row gap form-actions">
          <button type="submit" class="btn btn-primary" disabled={!valid || busy} data-testid="form-submit">
            {busy ? 'Submitting…' : mode === 'contrast' ? 'Run contrast' : 'Run battery'}
          </button>
          {!valid && <span class="muted small">{mode === 'contrast' ? 'Pick at least one set for A and one for B, and a layer.' : 'Pick at least two categories.'}</span>}
        </div>
      </form>
    </div>
  );
}
