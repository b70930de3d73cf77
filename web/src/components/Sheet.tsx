/**
 * The sheet on a canvas: one crisp cell per unit in the server's diverging colormap, outlines of
 * cells beyond the threshold, the selected region, the selected and hovered cells; and its colorbar.
 */
import { useEffect, useRef } from 'preact/hooks';
import { colorFor, NAN_COLOR } from '../colormap.ts';
import { fmtSig } from '../format.ts';

export interface SheetProps {
  rows: number;
  cols: number;
  /** Per cell, row-major; NaN where no unit sits. */
  values: Float64Array;
  vmax: number;
  /** Per cell: 1 beyond the threshold. */
  outline: Uint8Array | null;
  /** Per cell: 1 in the selected region. */
  highlight: Uint8Array | null;
  /** Per cell: 1 in the region under the pointer in the cluster table. */
  preview: Uint8Array | null;
  /** The selected unit's cell. */
  marked: number | null;
  hoverCell: number | null;
  cellPx: number;
  onHover: (cell: number | null, ev: MouseEvent | null) => void;
  onPick: (cell: number, ev: MouseEvent) => void;
  onZoom?: (dir: 1 | -1) => void;
  testid: string;
  label: string;
}

function boundaryPath(ctx: CanvasRenderingContext2D, mask: Uint8Array, rows: number, cols: number, s: number): number {
  let segments = 0;
  const seg = (x0: number, y0: number, x1: number, y1: number) => {
    ctx.moveTo(x0, y0);
    ctx.lineTo(x1, y1);
    segments++;
  };
  ctx.beginPath();
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if (!mask[r * cols + c]) continue;
      const x = c * s;
      const y = r * s;
      if (r === 0 || !mask[(r - 1) * cols + c]) seg(x, y, x + s, y);
      if (r === rows - 1 || !mask[(r + 1) * cols + c]) seg(x, y + s, x + s, y + s);
      if (c === 0 || !mask[r * cols + c - 1]) seg(x, y, x, y + s);
      if (c === cols - 1 || !mask[r * cols + c + 1]) seg(x + s, y, x + s, y + s);
    }
  }
  return segments;
}

export function SheetCanvas(p: SheetProps) {
  const ref = useRef<HTMLCanvasElement>(null);
  const w = p.cols * p.cellPx;
  const h = p.rows * p.cellPx;

  useEffect(() => {
    const cv = ref.current;
    if (!cv) return;
    const dpr = window.devicePixelRatio || 1;
    cv.width = Math.round(w * dpr);
    cv.height = Math.round(h * dpr);
    const ctx = cv.getContext('2d')!;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    // Cells on device-pixel edges: crisp and seamless at any zoom or pixel ratio.
    for (let r = 0; r < p.rows; r++) {
      const y0 = Math.round(r * p.cellPx * dpr);
      const y1 = Math.round((r + 1) * p.cellPx * dpr);
      for (let c = 0; c < p.cols; c++) {
        const v = p.values[r * p.cols + c];
        const [R, G, B] = Number.isNaN(v) ? NAN_COLOR : colorFor(v, p.vmax);
        ctx.fillStyle = `rgb(${R},${G},${B})`;
        const x0 = Math.round(c * p.cellPx * dpr);
        ctx.fillRect(x0, y0, Math.round((c + 1) * p.cellPx * dpr) - x0, y1 - y0);
      }
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.lineCap = 'square';
    let segments = 0;
    if (p.outline) {
      segments = boundaryPath(ctx, p.outline, p.rows, p.cols, p.cellPx);
      ctx.strokeStyle = '#111';
      ctx.lineWidth = p.cellPx >= 10 ? 1.5 : 1;
      ctx.stroke();
    }
    const regionsToDraw: [Uint8Array | null, number[]][] = [
      [p.preview, [4, 3]],
      [p.highlight, []],
    ];
    for (const [mask, dash] of regionsToDraw) {
      if (!mask) continue;
      boundaryPath(ctx, mask, p.rows, p.cols, p.cellPx);
      ctx.setLineDash([]);
      ctx.strokeStyle = 'rgba(0,0,0,0.85)';
      ctx.lineWidth = 4;
      ctx.stroke();
      ctx.setLineDash(dash);
      ctx.strokeStyle = '#ffc400';
      ctx.lineWidth = 2;
      ctx.stroke();
      ctx.setLineDash([]);
    }
    const square = (cell: number, color: string, lw: number) => {
      const x = (cell % p.cols) * p.cellPx;
      const y = Math.floor(cell / p.cols) * p.cellPx;
      ctx.strokeStyle = color;
      ctx.lineWidth = lw;
      ctx.strokeRect(x + lw / 2, y + lw / 2, p.cellPx - lw, p.cellPx - lw);
    };
    if (p.marked !== null) {
      square(p.marked, '#000', 2);
      if (p.cellPx >= 8) square(p.marked, '#fff', 1);
    }
    if (p.hoverCell !== null) square(p.hoverCell, 'rgba(0,0,0,0.7)', 1);
    cv.dataset.outlineSegments = String(segments);
  });

  const cellAt = (e: MouseEvent): number | null => {
    const b = (e.currentTarget as HTMLCanvasElement).getBoundingClientRect();
    const c = Math.floor(((e.clientX - b.left) / b.width) * p.cols);
    const r = Math.floor(((e.clientY - b.top) / b.height) * p.rows);
    return r >= 0 && r < p.rows && c >= 0 && c < p.cols ? r * p.cols + c : null;
  };

  return (
    <canvas
      ref={ref}
      class="sheet"
      style={{ width: `${w}px`, height: `${h}px` }}
      role="img"
      aria-label={p.label}
      data-testid={p.testid}
      data-rows={p.rows}
      data-cols={p.cols}
      data-cell-px={p.cellPx}
      data-vmax={p.vmax}
      onMouseMove={(e) => p.onHover(cellAt(e), e)}
      onMouseLeave={() => p.onHover(null, null)}
      onClick={(e) => {
        const c = cellAt(e);
        if (c !== null) p.onPick(c, e);
      }}
      onWheel={(e) => {
        if (!p.onZoom || !(e.ctrlKey || e.metaKey)) return;
        e.preventDefault();
        p.onZoom(e.deltaY < 0 ? 1 : -1);
      }}
    />
  );
}

/** A vertical colorbar for ±vmax with the threshold marked at ±thr. */
export function Colorbar({ vmax, thr, label, height }: { vmax: number; thr: number; label: string; height: number }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const barH = Math.max(120, height);
  useEffect(() => {
    const cv = ref.current;
    if (!cv) return;
    const dpr = window.devicePixelRatio || 1;
    cv.width = Math.round(14 * dpr);
    cv.height = Math.round(barH * dpr);
    const ctx = cv.getContext('2d')!;
    for (let y = 0; y < cv.height; y++) {
      const v = vmax - ((y + 0.5) / cv.height) * 2 * vmax;
      const [r, g, b] = colorFor(v, vmax);
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(0, y, cv.width, 1);
    }
  }, [vmax, barH]);
  const pos = (v: number) => ((vmax - v) / (2 * vmax)) * barH;
  const ticks = [vmax, vmax / 2, 0, -vmax / 2, -vmax];
  return (
    <div class="colorbar" data-testid="colorbar" data-vmax={vmax}>
      <div class="colorbar-label">{label}</div>
      <div class="colorbar-body" style={{ height: `${barH}px` }}>
        <canvas ref={ref} style={{ width: '14px', height: `${barH}px` }} />
        {ticks.map((t) => (
          <span key={t} class="tick" style={{ top: `${pos(t)}px` }}>
            {fmtSig(t)}
          </span>
        ))}
        {thr > 0 &&
          thr <= vmax &&
          [thr, -thr].map((t) => <span key={`thr${t}`} class="thr-mark" style={{ top: `${pos(t)}px` }} title={`threshold ${fmtSig(t)}`} />)}
      </div>
    </div>
  );
}
