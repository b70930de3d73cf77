/**
 * The thread that renders maps for `MapRenderer` (src/usecases/map-cache.ts): SVG figure building
 * and resvg rasterisation are CPU work that would otherwise stall the HTTP server's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { renderMapPng, renderMapSvg, type MapOptions } from '../render/index.ts';

export type RenderRequest = { id: number; kind: 'png' | 'svg'; options: MapOptions };
export type RenderResponse = { id: number; ok: true; png?: Uint8Array; svg?: string } | { id: number; ok: false; error: string };

const port = parentPort;
if (port && (workerData as { entry?: string } | null)?.entry === import.meta.url) {
  port.on('message', (m: RenderRequest) => {
    (async () => {
      if (m.kind === 'svg') return { id: m.id, ok: true as const, svg: renderMapSvg(m.options) };
      const png = await renderMapPng(m.options);
      return { id: m.id, ok: true as const, png: new Uint8Array(png.buffer, png.byteOffset, png.length) };
    })().then(
      (r) => port.postMessage(r satisfies RenderResponse, r.png ? [r.png.buffer as ArrayBuffer] : []),
      (e: unknown) => port.postMessage({ id: m.id, ok: false, error: (e as Error)?.message ?? String(e) } satisfies RenderResponse),
    );
  });
}
