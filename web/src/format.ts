/** Number formatting for tables and tooltips. */

export function fmt(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  return v.toFixed(digits).replace('-', '−');
}

/** p-values and other small positives: fixed above 0.001, scientific below. */
export function fmtP(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (v === 0) return '0';
  if (v >= 0.001) return v.toFixed(4).replace(/0+$/, '').replace(/\.$/, '');
  return v.toExponential(2).replace('e-', 'e−');
}

/** 3 significant digits, for scale ends and thresholds. */
export function fmtSig(v: number): string {
  if (!Number.isFinite(v)) return fmt(v);
  const a = Math.abs(v);
  if (a === 0) return '0';
  const s = a >= 1000 || a < 0.01 ? v.toExponential(2) : v.toPrecision(3);
  return String(Number(s)).replace('-', '−');
}

export function ago(iso: string | null): string {
  if (!iso) return '–';
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (s < 60) return `${Math.max(0, Math.round(s))} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
