/** Models (layers and sheets) and stimulus sets (thumbnails for images, texts). */
import { useState } from 'preact/hooks';
import { api, getJson } from '../api.ts';
import { useCatalog } from '../catalog.tsx';
import { ago, bytes } from '../format.ts';
import { useAsync } from '../hooks.ts';
import type { Model, Page, SetItem, StimulusSet } from '../types.ts';
import { active, ContrastTable } from './Contrasts.tsx';
import { Card, Empty, ErrorBox, Link, Loading } from './ui.tsx';

const itemUrl = (set: string, pos: number) => `/v1/stimulus-sets/${encodeURIComponent(set)}/items/${pos}`;

function LayersTable({ m }: { m: Model }) {
  return (
    <table class="table compact">
      <thead>
        <tr>
          <th>Layer</th>
          <th class="num">Units</th>
          <th>Sheet</th>
          <th>Pooling</th>
        </tr>
      </thead>
      <tbody>
        {m.layers.map((l) => (
          <tr key={l.name}>
            <td class="mono">{l.name}</td>
            <td class="num">{l.units}</td>
            <td>
              {l.rows} × {l.cols}
            </td>
            <td>{l.pooling}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ModelsPage() {
  const cat = useCatalog();
  return (
    <div class="page">
      <div class="page-head">
        <h1>Models</h1>
        <button class="btn" onClick={cat.reload}>
          Refresh
        </button>
      </div>
      <ErrorBox error={cat.error} />
      {cat.loading && !cat.models.length ? <Loading what="models" /> : null}
      {!cat.loading && !cat.models.length && <Empty>No models registered. POST /v1/models with a folder, or upload one (see /docs).</Empty>}
      <div class="grid-cards">
        {cat.models.map((m) => (
          <Card
            key={m.id}
            testid={`model-${m.name}`}
            title={<Link href={`/models/${encodeURIComponent(m.name)}`}>{m.name}</Link>}
            actions={<span class={`badge badge-${m.modality}`}>{m.modality}</span>}
          >
            {m.manifest.description && <p class="small">{m.manifest.description}</p>}
            <LayersTable m={m} />
            <div class="row gap space-between small muted">
              <span>
                {bytes(m.sizeBytes)} · {m.source}
              </span>
              <Link class="btn btn-small" href={`/contrasts/new?model=${encodeURIComponent(m.name)}`}>
                New contrast
              </Link>
            </div>
          </Card>
        ))}
      </div>
    </div>
  );
}

export function ModelPage({ id }: { id: string }) {
  const cat = useCatalog();
  const m = cat.model(id);
  const cs = useAsync(() => (m ? api.contrasts(`&model=${encodeURIComponent(m.id)}`) : Promise.resolve(null)), [m?.id], {
    ms: 1000,
    while: (d) => !!d?.items.some(active),
  });
  if (!m) return <div class="page">{cat.loading ? <Loading what="model" /> : <ErrorBox error={new Error(`no model '${id}'`)} />}</div>;
  return (
    <div class="page">
      <div class="page-head">
        <h1>
          {m.name} <span class={`badge badge-${m.modality}`}>{m.modality}</span>
        </h1>
        <Link class="btn btn-primary" href={`/contrasts/new?model=${encodeURIComponent(m.name)}`}>
          New contrast
        </Link>
      </div>
      <div class="grid-2">
        <Card title="Layers and sheets">
          {m.manifest.description && <p>{m.manifest.description}</p>}
          <LayersTable m={m} />
        </Card>
        <Card title="Model">
          <dl class="kv">
            <dt>id</dt>
            <dd class="mono">{m.id}</dd>
            <dt>source</dt>
            <dd>{m.source}</dd>
            <dt>size</dt>
            <dd>{bytes(m.sizeBytes)}</dd>
            <dt>registered</dt>
            <dd>{ago(m.createdAt)}</dd>
          </dl>
        </Card>
      </div>
      <Card title="Contrasts on this model">
        <ErrorBox error={cs.error} />
        {cs.data ? <ContrastTable items={cs.data.items} showModel={false} /> : <Loading what="contrasts" />}
      </Card>
    </div>
  );
}

function Thumbs({ s, n }: { s: StimulusSet; n: number }) {
  const texts = useAsync(
    () => (s.modality === 'text' ? getJson<Page<SetItem>>(`/v1/stimulus-sets/${s.id}/items?limit=${n}`) : Promise.resolve(null)),
    [s.id, n],
  );
  if (s.modality === 'image') {
    return (
      <div class="thumbs">
        {Array.from({ length: Math.min(n, s.nItems) }, (_, i) => (
          <img key={i} src={itemUrl(s.id, i)} alt={`${s.name} #${i}`} width={48} height={48} />
        ))}
      </div>
    );
  }
  return (
    <ul class="texts">
      {texts.data?.items.map((it) => (
        <li key={it.position}>{it.text}</li>
      ))}
    </ul>
  );
}

export function SetsPage() {
  const cat = useCatalog();
  return (
    <div class="page">
      <div class="page-head">
        <h1>Stimulus sets</h1>
        <button class="btn" onClick={cat.reload}>
          Refresh
        </button>
      </div>
      <ErrorBox error={cat.error} />
      <div class="grid-cards">
        {cat.sets.map((s) => (
          <Card
            key={s.id}
            testid={`set-${s.name}`}
            title={<Link href={`/sets/${encodeURIComponent(s.name)}`}>{s.name}</Link>}
            actions={
              <span class="small muted">
                <span class={`badge badge-${s.modality}`}>{s.modality}</span> {s.nItems} items
              </span>
            }
          >
            <Thumbs s={s} n={s.modality === 'image' ? 12 : 6} />
          </Card>
        ))}
      </div>
    </div>
  );
}

const PAGE = 100;

export function SetPage({ id }: { id: string }) {
  const cat = useCatalog();
  const s = cat.set(id);
  const [offset, setOffset] = useState(0);
  const items = useAsync(() => (s ? getJson<Page<SetItem>>(`/v1/stimulus-sets/${s.id}/items?limit=${PAGE}&offset=${offset}`) : Promise.resolve(null)), [s?.id, offset]);
  if (!s) return <div class="page">{cat.loading ? <Loading what="set" /> : <ErrorBox error={new Error(`no stimulus set '${id}'`)} />}</div>;
  return (
    <div class="page">
      <div class="page-head">
        <h1>
          {s.name} <span class={`badge badge-${s.modality}`}>{s.modality}</span>
        </h1>
        <span class="muted">
          {s.nItems} items · {s.source} · <span class="mono">{s.id}</span>
        </span>
      </div>
      <ErrorBox error={items.error} />
      <Card
        actions={
          s.nItems > PAGE && (
            <div class="row gap">
              <button class="btn btn-small" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
                Previous
              </button>
              <span class="small">
                {offset + 1}–{Math.min(s.nItems, offset + PAGE)} of {s.nItems}
              </span>
              <button class="btn btn-small" disabled={offset + PAGE >= s.nItems} onClick={() => setOffset(offset + PAGE)}>
                Next
              </button>
            </div>
          )
        }
      >
        {s.modality === 'image' ? (
          <div class="item-grid">
            {items.data?.items.map((it) => (
              <figure key={it.position}>
                <img src={itemUrl(s.id, it.position)} alt={it.label ?? `#${it.position}`} loading="lazy" width={64} height={64} />
                <figcaption title={it.label ?? ''}>{it.label ?? `#${it.position}`}</figcaption>
              </figure>
            ))}
          </div>
        ) : (
          <ol class="text-items" start={offset + 1}>
            {items.data?.items.map((it) => (
              <li key={it.position}>{it.text}</li>
            ))}
          </ol>
        )}
      </Card>
    </div>
  );
}
