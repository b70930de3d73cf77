/**
 * The map of one layer of a finished contrast: statistic, threshold outline, clusters, zoom, hover,
 * selection, topography, and optionally a second map beside it on the same colour scale.
 * The view lives in the URL (see view-state.ts), so every view is a deep link.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, deleteJson, postJson } from '../api.ts';
import { useCatalog } from '../catalog.tsx';
import { fmt, fmtP, fmtSig } from '../format.ts';
import { useAsync, useWidth } from '../hooks.ts';
import { navigate } from '../router.ts';
import { availableStats, defaultVmax, onSheet, regions, STAT_ORDER, STATS, statValues, thresholdRange, unitOfCell } from '../sheet.ts';
import type { Comparison, Contrast, LayerResult, Stat } from '../types.ts';
import { parseView, viewUrl, ZOOMS, type MapView, type Selection } from '../view-state.ts';
import { ClusterTable } from './ClusterTable.tsx';
import { active, contrastTitle } from './Contrasts.tsx';
import { SelectionPanel } from './SelectionPanel.tsx';
import { Colorbar, SheetCanvas } from './Sheet.tsx';
import { Topography } from './Topography.tsx';
import { Card, ErrorBox, Link, Loading, Progress, StateBadge } from './ui.tsx';

interface MapData {
  layer: LayerResult;
  sheet: Float64Array;
  unitAt: Int32Array;
  outline: Uint8Array | null;
  regions: { positive: number; negative: number; cells: number } | null;
}

function mapData(layer: LayerResult, stat: Stat, thr: number): MapData {
  const sheet = onSheet(layer, statValues(layer, stat));
  let outline: Uint8Array | null = null;
  let reg: MapData['regions'] = null;
  if (thr > 0) {
    const conn = layer.analysis.clusterParams?.connectivity === 4 ? 4 : 8;
    const r = regions(sheet, layer.rows, layer.cols, thr, conn);
    outline = Uint8Array.from(r.labels, (l) => (l > 0 ? 1 : 0));
    reg = { positive: r.positive, negative: r.negative, cells: r.cells };
  }
  return { layer, sheet, unitAt: unitOfCell(layer), outline, regions: reg };
}

function selectionUnits(layer: LayerResult, sel: Selection): number[] {
  if (!sel) return [];
  if (sel.kind === 'cluster') {
    const out: number[] = [];
    layer.clusterLabel?.forEach((k, u) => k === sel.id && out.push(u));
    return out;
  }
  return sel.units.filter((u) => u >= 0 && u < layer.units).sort((a, b) => a - b);
}

function cellMask(layer: LayerResult, units: number[]): Uint8Array | null {
  if (!units.length) return null;
  const m = new Uint8Array(layer.rows * layer.cols);
  for (const u of units) m[layer.cellOfUnit[u]] = 1;
  return m;
}

function thresholdText(stat: Stat, thr: number): string {
  const info = STATS[stat];
  if (!(thr > 0)) return 'no outline';
  return `${info.scale} ≥ ${fmtSig(thr)}${info.pName ? ` (${info.pName} ≤ ${fmtP(Math.pow(10, -thr))})` : ''}`;
}

function RegionCount({ r, stat, thr, testid }: { r: MapData['regions']; stat: Stat; thr: number; testid: string }) {
  if (!r) return <span class="muted small" data-testid={testid} data-regions={0}>Outline off</span>;
  const n = r.positive + r.negative;
  return (
    <span class="small" data-testid={testid} data-regions={n} data-cells={r.cells}>
      <strong>{n}</strong> region{n === 1 ? '' : 's'} ({r.positive} A&gt;B, {r.negative} B&gt;A) · {r.cells} units with {thresholdText(stat, thr)}
    </span>
  );
}

// Comparisons are stored by the server: post each pair of maps once per session.
const comparisons = new Map<string, Promise<Comparison>>();
function compare(maps: { contrast: string; layer: string; stat: Stat }[]): Promise<Comparison> {
  const key = JSON.stringify(maps);
  let p = comparisons.get(key);
  if (!p) {
    p = postJson<Comparison>('/v1/comparisons', { maps });
    comparisons.set(key, p);
    p.catch(() => comparisons.delete(key));
  }
  return p;
}

/** The twin of a topo-/flat- model pair (the fixtures' naming), if registered. */
function twinName(name: string | undefined): string | null {
  const m = name ? /^(topo|flat)-(.+)$/.exec(name) : null;
  return m ? `${m[1] === 'topo' ? 'flat' : 'topo'}-${m[2]}` : null;
}

const sameSets = (x: string[], y: string[]) => x.length === y.length && [...x].sort().join() === [...y].sort().join();

export function MapExplorer({ c, query }: { c: Contrast; query: URLSearchParams }) {
  const cat = useCatalog();
  const model = cat.model(c.model);
  const [view, setView] = useState<MapView>(() => parseView(c.id, query));
  const written = useRef('');
  const queryText = query.toString();
  useEffect(() => {
    // Back/forward or a link changed the URL: take the view from it.
    if (location.pathname + location.search !== written.current) setView(parseView(c.id, new URLSearchParams(queryText)));
  }, [queryText, c.id]);

  const layerName = view.layer && c.layers.some((l) => l.name === view.layer) ? view.layer : (c.layers[0]?.name ?? null);
  const layerRes = useAsync(() => (layerName ? api.layer(c.id, layerName) : Promise.resolve(null)), [c.id, layerName]);
  const layer = layerRes.data ?? null;
  const stats = layer ? availableStats(layer) : ['t' as Stat];
  const stat: Stat = stats.includes(view.stat) ? view.stat : 't';

  // The URL follows the view (shortly after it settles, so dragging the slider does not flood history).
  const resolved: MapView = { ...view, layer: layerName, model: model?.name ?? view.model, stat: layer ? stat : view.stat };
  const url = viewUrl(resolved);
  useEffect(() => {
    const t = setTimeout(() => {
      written.current = url;
      navigate(url, { replace: true });
    }, 120);
    return () => clearTimeout(t);
  }, [url]);
  // A new selection drops the lesion shown for the old one.
  const update = (patch: Partial<MapView>) => setView((v) => ({ ...v, ...('sel' in patch && !('lesion' in patch) ? { lesion: null } : {}), ...patch }));

  // The map beside this one.
  const cmpC = useAsync(() => (view.cmp ? api.contrast(view.cmp.contrast) : Promise.resolve(null)), [view.cmp?.contrast], {
    ms: 700,
    while: (d) => !!d && active(d),
  });
  const cmpReady = cmpC.data?.state === 'succeeded' && cmpC.data.id === view.cmp?.contrast;
  const cmpLayerRes = useAsync(() => (view.cmp && cmpReady ? api.layer(view.cmp.contrast, view.cmp.layer) : Promise.resolve(null)), [view.cmp?.contrast, view.cmp?.layer, cmpReady]);
  const cmpLayer = view.cmp ? (cmpLayerRes.data ?? null) : null;
  const cmpHasStat = cmpLayer ? availableStats(cmpLayer).includes(stat) : false;

  const main = useMemo(() => (layer ? mapData(layer, stat, view.thr) : null), [layer, stat, view.thr]);
  const other = useMemo(() => (cmpLayer && cmpHasStat ? mapData(cmpLayer, stat, view.thr) : null), [cmpLayer, cmpHasStat, stat, view.thr]);
  const vmax = useMemo(() => {
    if (!main) return 1;
    if (!other) return defaultVmax(main.sheet);
    return defaultVmax([...main.sheet, ...other.sheet]);
  }, [main, other]);
  const range = useMemo(() => thresholdRange(other ? [...(main?.sheet ?? []), ...other.sheet] : (main?.sheet ?? [])), [main, other]);

  const units = useMemo(() => (layer ? selectionUnits(layer, view.sel) : []), [layer, view.sel]);
  const highlight = useMemo(() => (layer ? cellMask(layer, units) : null), [layer, units]);
  const [preview, setPreview] = useState<number | null>(null);
  const previewMask = useMemo(() => (layer && preview !== null ? cellMask(layer, selectionUnits(layer, { kind: 'cluster', id: preview })) : null), [layer, preview]);
  const marked = layer && view.sel?.kind === 'units' && units.length === 1 ? layer.cellOfUnit[units[0]] : null;
  const [hover, setHover] = useState<{ cell: number; x: number; y: number; which: 'main' | 'cmp' } | null>(null);

  const cmpKey = layer && view.cmp && other ? JSON.stringify([c.id, layer.layer, view.cmp, stat]) : null;
  const comparison = useAsync(
    () => (cmpKey && layer && view.cmp ? compare([{ contrast: c.id, layer: layer.layer, stat }, { contrast: view.cmp.contrast, layer: view.cmp.layer, stat }]) : Promise.resolve(null)),
    [cmpKey],
  );

  const succeeded = useAsync(() => api.contrasts('&state=succeeded'), [cmpC.data?.state]);
  const [mapsRef, mapsWidth] = useWidth<HTMLDivElement>();
  const [twinErr, setTwinErr] = useState<unknown>(null);

  if (layerRes.error) return <ErrorBox error={layerRes.error} />;
  if (!layer || !main) return <Loading what="layer" />;

  const conds: [string, string] = [cat.setNames(c.params.a), cat.setNames(c.params.b)];
  const nMaps = view.cmp ? 2 : 1;
  const avail = Math.max(200, (mapsWidth - 90 - (nMaps - 1) * 24) / nMaps);
  const base = Math.max(6, Math.min(36, Math.floor(avail / layer.cols)));
  const cellPx = Math.round(base * view.zoom);
  const zoomBy = (dir: 1 | -1) => {
    const i = ZOOMS.indexOf(view.zoom);
    update({ zoom: ZOOMS[Math.max(0, Math.min(ZOOMS.length - 1, (i < 0 ? 0 : i) + dir))] });
  };

  const pick = (cell: number, ev: MouseEvent) => {
    const u = main.unitAt[cell];
    if (u < 0) return;
    const sel = view.sel;
    if (ev.shiftKey) {
      const cur = sel?.kind === 'units' ? sel.units : [];
      const next = cur.includes(u) ? cur.filter((x) => x !== u) : [...cur, u];
      update({ sel: next.length ? { kind: 'units', units: next } : null });
      return;
    }
    const k = layer.clusterLabel?.[u] ?? 0;
    // First click on a cluster selects it; a click inside the selected cluster selects the unit.
    if (k > 0 && !(sel?.kind === 'cluster' && sel.id === k)) update({ sel: { kind: 'cluster', id: k } });
    else update({ sel: { kind: 'units', units: [u] } });
  };

  const cmpOptions: { value: string; label: string }[] = [];
  for (const l of c.layers) if (l.name !== layer.layer && l.rows === layer.rows && l.cols === layer.cols) cmpOptions.push({ value: `${c.id}:${l.name}`, label: `this contrast · ${l.name}` });
  for (const o of succeeded.data?.items ?? []) {
    if (o.id === c.id) continue;
    for (const l of o.layers) {
      if (l.rows !== layer.rows || l.cols !== layer.cols) continue;
      cmpOptions.push({ value: `${o.id}:${l.name}`, label: `${cat.model(o.model)?.name ?? o.model} · ${contrastTitle(o, cat.setNames)} · ${l.name}` });
    }
  }
  const cmpValue = view.cmp ? `${view.cmp.contrast}:${view.cmp.layer}` : '';
  if (view.cmp && !cmpOptions.some((o) => o.value === cmpValue)) cmpOptions.push({ value: cmpValue, label: `${view.cmp.contrast} · ${view.cmp.layer}` });

  const twin = cat.model(twinName(model?.name) ?? '');
  const twinDone = twin ? (succeeded.data?.items ?? []).find((o) => o.model === twin.id && sameSets(o.params.a, c.params.a) && sameSets(o.params.b, c.params.b)) : undefined;
  const runTwin = async () => {
    if (!twin) return;
    setTwinErr(null);
    try {
      const p = c.params;
      const body = {
        model: twin.name,
        a: p.a,
        b: p.b,
        layers: p.layers.filter((l) => twin.layers.some((t) => t.name === l)),
        pooling: p.pooling,
        test: p.test,
        correction: p.correction,
        correctionScope: p.correctionScope,
        alpha: p.alpha,
        keepActivations: p.keepActivations,
        ...(p.label ? { label: p.label } : {}),
        ...(p.analysis ? { analysis: p.analysis } : {}),
      };
      const r = await postJson<Contrast>('/v1/contrasts', body);
      update({ cmp: { contrast: r.id, layer: layer.layer } });
    } catch (e) {
      setTwinErr(e);
    }
  };

  const hovered = hover ? (hover.which === 'main' ? main : other) : null;
  const hu = hover && hovered ? hovered.unitAt[hover.cell] : -1;
  const clusterParams = layer.analysis.clusterParams;
  const mapTitle = (m: string | undefined, cc: Contrast | undefined | null, l: string) => `${m ?? ''} · ${l} · ${cc ? contrastTitle(cc, cat.setNames) : ''}`;
  const sheetH = layer.rows * cellPx;
  const pr = c.params.pooling ?? c.layers.find((l) => l.name === layer.layer)?.pooling;

  return (
    <div class="explorer" data-testid="explorer">
      <div class="toolbar card">
        <div class="tool-group">
          <span class="tool-label">Layer</span>
          <div class="segmented" role="tablist">
            {c.layers.map((l) => (
              <button
                key={l.name}
                role="tab"
                aria-selected={l.name === layer.layer}
                class={l.name === layer.layer ? 'on' : ''}
                onClick={() => update({ layer: l.name, sel: null })}
                data-testid={`layer-tab-${l.name}`}
                title={`${l.units} units on ${l.rows}×${l.cols}; peak t ${fmt(l.peak?.t, 2)}`}
              >
                {l.name}
              </button>
            ))}
          </div>
        </div>
        <div class="tool-group">
          <span class="tool-label">Statistic</span>
          <div class="segmented" role="radiogroup" data-testid="stat-select" data-value={stat}>
            {STAT_ORDER.map((s) => {
              const ok = stats.includes(s);
              return (
                <button
                  key={s}
                  role="radio"
                  aria-checked={s === stat}
                  class={s === stat ? 'on' : ''}
                  disabled={!ok}
                  title={ok ? STATS[s].label : s === 'pfwe' ? 'needs label permutations (analysis options)' : 'needs TFCE (analysis options)'}
                  onClick={() => update({ stat: s, thr: STATS[s].defaultThreshold })}
                  data-testid={`stat-${s}`}
                >
                  {s === 'log10p' ? 'log10 p' : s === 'pfwe' ? 'pFWE' : s === 'tfce' ? 'TFCE' : s}
                </button>
              );
            })}
          </div>
        </div>
        <div class="tool-group grow">
          <label class="tool-label" for="thr">
            Outline {STATS[stat].scale} ≥
          </label>
          <input
            id="thr"
            type="range"
            min={0}
            max={range.max}
            step={range.step}
            value={Math.min(view.thr, range.max)}
            onInput={(e) => update({ thr: Number(e.currentTarget.value) })}
            data-testid="threshold"
            class="grow"
          />
          <NumberBox value={view.thr} step={range.step} onValue={(thr) => update({ thr })} label="threshold value" testid="threshold-value" />
        </div>
        <div class="tool-group">
          <span class="tool-label">Zoom</span>
          <div class="segmented">
            <button onClick={() => zoomBy(-1)} disabled={view.zoom <= ZOOMS[0]} data-testid="zoom-out" aria-label="zoom out">
              −
            </button>
            <button onClick={() => update({ zoom: 1 })} data-testid="zoom-reset" title="fit">
              {view.zoom}×
            </button>
            <button onClick={() => zoomBy(1)} disabled={view.zoom >= ZOOMS[ZOOMS.length - 1]} data-testid="zoom-in" aria-label="zoom in">
              +
            </button>
          </div>
        </div>
      </div>

      <div class="explorer-grid">
        <div class="explorer-main">
          <Card
            title={
              <>
                {model?.name ?? c.model} · {layer.layer} <span class="muted">· {STATS[stat].label}</span>
              </>
            }
            actions={
              <div class="row gap small">
                <a href={`/v1/contrasts/${c.id}/layers/${layer.layer}/map.png?stat=${stat}${view.thr > 0 ? `&threshold=${view.thr}` : ''}`} target="_blank" rel="noopener">
                  map.png
                </a>
                <a href={`/v1/contrasts/${c.id}/layers/${layer.layer}/map.npy?stat=${stat}`}>map.npy</a>
                <a href={`/v1/contrasts/${c.id}/layers/${layer.layer}`} target="_blank" rel="noopener">
                  JSON
                </a>
              </div>
            }
          >
            <div class="maps" ref={mapsRef}>
              <div class="map-col">
                {view.cmp && <div class="map-title">{mapTitle(model?.name, c, layer.layer)}</div>}
                <div class="map-scroll" style={{ maxWidth: `${Math.max(avail, 200)}px` }}>
                  <SheetCanvas
                    rows={layer.rows}
                    cols={layer.cols}
                    values={main.sheet}
                    vmax={vmax}
                    outline={main.outline}
                    highlight={highlight}
                    preview={previewMask}
                    marked={marked}
                    hoverCell={hover?.cell ?? null}
                    cellPx={cellPx}
                    onHover={(cell, e) => setHover(cell === null || !e ? null : { cell, x: e.clientX, y: e.clientY, which: 'main' })}
                    onPick={pick}
                    onZoom={zoomBy}
                    testid="sheet"
                    label={`${STATS[stat].label} map of ${layer.layer}`}
                  />
                </div>
                <RegionCount r={main.regions} stat={stat} thr={view.thr} testid="region-count" />
              </div>
              {view.cmp && (
                <div class="map-col" data-testid="compare-pane">
                  <div class="map-title">{mapTitle(cat.model(cmpC.data?.model ?? '')?.name, cmpC.data, view.cmp.layer)}</div>
                  {cmpC.data && active(cmpC.data) && (
                    <div class="cmp-wait">
                      <StateBadge state={cmpC.data.state} /> <Progress c={cmpC.data} />
                    </div>
                  )}
                  {cmpC.data && (cmpC.data.state === 'failed' || cmpC.data.state === 'cancelled') && <ErrorBox error={new Error(cmpC.data.error ?? cmpC.data.state)} />}
                  <ErrorBox error={cmpC.error ?? cmpLayerRes.error} />
                  {cmpLayer && !cmpHasStat && <p class="muted">That map has no {STATS[stat].label}.</p>}
                  {cmpLayer && cmpLayer.rows === layer.rows && cmpLayer.cols === layer.cols && other && (
                    <>
                      <div class="map-scroll" style={{ maxWidth: `${Math.max(avail, 200)}px` }}>
                        <SheetCanvas
                          rows={cmpLayer.rows}
                          cols={cmpLayer.cols}
                          values={other.sheet}
                          vmax={vmax}
                          outline={other.outline}
                          highlight={highlight}
                          preview={previewMask}
                          marked={marked}
                          hoverCell={hover?.cell ?? null}
                          cellPx={cellPx}
                          onHover={(cell, e) => setHover(cell === null || !e ? null : { cell, x: e.clientX, y: e.clientY, which: 'cmp' })}
                          onPick={pick}
                          onZoom={zoomBy}
                          testid="sheet-compare"
                          label={`${STATS[stat].label} map of the compared layer`}
                        />
                      </div>
                      <RegionCount r={other.regions} stat={stat} thr={view.thr} testid="region-count-compare" />
                    </>
                  )}
                </div>
              )}
              <Colorbar vmax={vmax} thr={view.thr} label={STATS[stat].label} height={sheetH} />
            </div>
            <p class="hint muted small">
              Colours: {STATS[stat].label} on a diverging scale symmetric about 0, ±{fmtSig(vmax)} = max |value|{view.cmp ? ' of both maps (linked scale)' : ''}; red: {conds[0]} &gt;{' '}
              {conds[1]}, blue: the reverse. Click a cluster to select it, click again for the unit; Shift+click adds units; Ctrl+wheel zooms.
            </p>
            {view.cmp && (
              <div class="compare-metrics" data-testid="compare-metrics">
                <ErrorBox error={comparison.error} testid="compare-error" />
                {comparison.data && (
                  <div class="row gap wrap">
                    <span>
                      Pearson r = <strong data-testid="compare-r">{fmt(comparison.data.pearson[0][1], 3)}</strong> · SSIM ={' '}
                      <strong data-testid="compare-ssim">{fmt(comparison.data.ssim[0][1], 3)}</strong>
                    </span>
                    {cmpLayer && (
                      <span>
                        · Moran's I {fmt(layer.analysis.moran?.I, 3)} (left) vs {fmt(cmpLayer.analysis.moran?.I, 3)} (right)
                      </span>
                    )}
                    <span class="muted small">
                      on {STATS[stat].label}, SSIM with a Gaussian window σ 1.5 · comparison <span class="mono">{comparison.data.id}</span>
                    </span>
                  </div>
                )}
              </div>
            )}
            <div class="compare-bar row gap wrap">
              <label class="tool-label" for="cmp">
                Compare with
              </label>
              <select id="cmp" value={cmpValue} onChange={(e) => {
                const v = e.currentTarget.value;
                const m = /^([^:]+):(.+)$/.exec(v);
                update({ cmp: m ? { contrast: m[1], layer: m[2] } : null });
              }} data-testid="compare-select">
                <option value="">nothing (one map)</option>
                {cmpOptions.map((o) => (
                  <option key={o.value} value={o.value}>
                    {o.label}
                  </option>
                ))}
              </select>
              {twin && !view.cmp && (
                twinDone ? (
                  <button class="btn btn-small" onClick={() => update({ cmp: { contrast: twinDone.id, layer: layer.layer } })} data-testid="compare-twin">
                    Compare with {twin.name}
                  </button>
                ) : (
                  <button class="btn btn-small" onClick={runTwin} data-testid="run-twin">
                    Run on {twin.name} and compare
                  </button>
                )
              )}
              <ErrorBox error={twinErr} testid="twin-error" />
            </div>
          </Card>

          <Card title="Clusters" testid="clusters-card">
            <ClusterTable
              clusters={layer.clusters}
              params={clusterParams}
              selected={view.sel?.kind === 'cluster' ? view.sel.id : null}
              onSelect={(id) => update({ sel: { kind: 'cluster', id } })}
              onPreview={setPreview}
            />
          </Card>
        </div>

        <div class="explorer-side">
          {view.sel ? (
            <SelectionPanel
              contrast={c}
              layer={layer}
              sel={view.sel}
              units={units}
              cluster={view.sel.kind === 'cluster' ? (layer.clusters.find((k) => k.id === (view.sel as { id: number }).id) ?? null) : null}
              modelName={model?.name ?? c.model}
              conds={conds}
              onSelect={(sel) => update({ sel })}
              onClose={() => update({ sel: null })}
              lesion={view.lesion}
              onLesion={(lesion) => update({ lesion })}
              link={url}
            />
          ) : (
            <Card title="Layer" testid="layer-summary">
              <dl class="kv">
                <dt>units</dt>
                <dd>
                  {layer.units} on {layer.rows} × {layer.cols}
                </dd>
                <dt>stimuli</dt>
                <dd>
                  {conds[0]} {layer.nA} · {conds[1]} {layer.nB}
                </dd>
                <dt>test</dt>
                <dd>
                  {c.params.test}, {layer.summary.correction} within {c.params.correctionScope === 'all' ? 'all layers' : 'the layer'}, α {layer.summary.alpha}
                </dd>
                <dt>pooling</dt>
                <dd>{pr}</dd>
                <dt>significant</dt>
                <dd>
                  {layer.summary.significant} ({layer.summary.significantPositive} A&gt;B, {layer.summary.significantNegative} B&gt;A)
                </dd>
                <dt>peak</dt>
                <dd>
                  {layer.summary.peak ? (
                    <button class="btn-link" onClick={() => update({ sel: { kind: 'units', units: [layer.summary.peak!.unit] } })} data-testid="select-peak">
                      unit {layer.summary.peak.unit} (row {layer.summary.peak.row}, col {layer.summary.peak.col}), t = {fmt(layer.summary.peak.t, 2)}
                    </button>
                  ) : (
                    '–'
                  )}
                </dd>
              </dl>
              <p class="muted small">Click a unit or a cluster on the map, or a row of the cluster table, to inspect it.</p>
            </Card>
          )}
          <Card title={view.cmp ? 'Topography of the left t-map' : 'Topography of the t-map'}>
            <Topography a={layer.analysis} />
          </Card>
        </div>
      </div>

      {hover && hovered && hu >= 0 && (
        <Tooltip x={hover.x} y={hover.y} l={hovered.layer} u={hu} conds={hover.which === 'main' ? conds : [cat.setNames(cmpC.data?.params.a ?? []), cat.setNames(cmpC.data?.params.b ?? [])]} other={hover.which === 'main' ? other : main} stat={stat} />
      )}
    </div>
  );
}

/** A number box that lets the user type freely and reports each valid non-negative value. */
function NumberBox({ value, step, onValue, label, testid }: { value: number; step: number; onValue: (v: number) => void; label: string; testid: string }) {
  const [text, setText] = useState(String(Number(value.toPrecision(6))));
  useEffect(() => {
    if (Number(text) !== value) setText(String(Number(value.toPrecision(6))));
  }, [value]);
  return (
    <input
      type="number"
      min={0}
      step={step}
      value={text}
      onInput={(e) => {
        const t = e.currentTarget.value;
        setText(t);
        const x = Number(t);
        if (t.trim() !== '' && Number.isFinite(x) && x >= 0) onValue(x);
      }}
      class="w-num"
      aria-label={label}
      data-testid={testid}
    />
  );
}

function Tooltip({ x, y, l, u, conds, other, stat }: { x: number; y: number; l: LayerResult; u: number; conds: [string, string]; other: MapData | null; stat: Stat }) {
  const cell = l.cellOfUnit[u];
  const row = Math.floor(cell / l.cols);
  const col = cell % l.cols;
  const k = l.clusterLabel?.[u] ?? 0;
  const ou = other ? other.unitAt[cell] : -1;
  const left = Math.min(x + 16, window.innerWidth - 250);
  const top = Math.min(y + 16, window.innerHeight - 240);
  return (
    <div class="tooltip" style={{ left: `${left}px`, top: `${top}px` }} data-testid="tooltip" data-unit={u}>
      <div class="tt-head">
        unit <span data-testid="tt-unit">{u}</span> · {l.layer}
      </div>
      <div class="muted small">
        row <span data-testid="tt-row">{row}</span>, col <span data-testid="tt-col">{col}</span>
        {k > 0 ? ` · cluster ${k}` : ''}
      </div>
      <table>
        <tbody>
          <tr>
            <th>t</th>
            <td data-testid="tt-t">{fmt(l.t[u], 3)}</td>
          </tr>
          <tr>
            <th>p</th>
            <td data-testid="tt-p">{fmtP(l.p[u])}</td>
          </tr>
          <tr>
            <th>q</th>
            <td data-testid="tt-q">{fmtP(l.q[u])}</td>
          </tr>
          <tr>
            <th>d</th>
            <td data-testid="tt-d">{fmt(l.d[u], 3)}</td>
          </tr>
          <tr>
            <th>mean {conds[0]}</th>
            <td data-testid="tt-mean-a">{fmt(l.meanA[u], 4)}</td>
          </tr>
          <tr>
            <th>mean {conds[1]}</th>
            <td data-testid="tt-mean-b">{fmt(l.meanB[u], 4)}</td>
          </tr>
          {other && ou >= 0 && (
            <tr class="tt-other">
              <th>other map t</th>
              <td>{fmt(other.layer.t[ou], 3)}</td>
            </tr>
          )}
          {stat !== 't' && (
            <tr>
              <th>{STATS[stat].label}</th>
              <td>{fmt(statValues(l, stat)[u], 3)}</td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

/** A contrast: live progress while it runs, the error if it failed, the map once it succeeded. */
export function ContrastPage({ id, query }: { id: string; query: URLSearchParams }) {
  const cat = useCatalog();
  const r = useAsync(() => api.contrast(id), [id], { ms: 500, while: active });
  const c = r.data;
  const [cancelErr, setCancelErr] = useState<unknown>(null);
  if (r.error) return <div class="page"><ErrorBox error={r.error} /></div>;
  if (!c) return <div class="page"><Loading what="contrast" /></div>;
  const model = cat.model(c.model);
  const cancel = async () => {
    setCancelErr(null);
    try {
      await deleteJson(`/v1/contrasts/${c.id}`);
      r.reload();
    } catch (e) {
      setCancelErr(e);
    }
  };
  return (
    <div class="page wide">
      <div class="page-head">
        <div>
          <h1 data-testid="contrast-title">{contrastTitle(c, cat.setNames)}</h1>
          <div class="muted small">
            <Link href={`/models/${encodeURIComponent(model?.name ?? c.model)}`}>{model?.name ?? c.model}</Link> · {cat.setNames(c.params.a)} vs {cat.setNames(c.params.b)} ·{' '}
            <span class="mono">{c.id}</span>
            {c.battery && (
              <>
                {' '}
                · <Link href={`/batteries/${c.battery}`}>battery</Link>
              </>
            )}
          </div>
        </div>
        <div class="row gap">
          <StateBadge state={c.state} />
          <div class="head-progress">
            <Progress c={c} />
          </div>
          {active(c) && (
            <button class="btn btn-small" onClick={cancel} data-testid="cancel">
              Cancel
            </button>
          )}
        </div>
      </div>
      {(c.state === 'failed' || c.state === 'cancelled' || cancelErr) && (
        <Card>
          {c.state === 'failed' && <ErrorBox error={new Error(c.error ?? 'failed')} testid="contrast-error" />}
          {c.state === 'cancelled' && <p class="muted">This contrast was cancelled.</p>}
          <ErrorBox error={cancelErr} />
        </Card>
      )}
      {active(c) && <Card><p class="muted">The map appears here when the contrast has finished: the stimuli go through the model first, then the statistics are computed per layer.</p></Card>}
      {c.state === 'succeeded' && <MapExplorer c={c} query={query} />}
    </div>
  );
}
