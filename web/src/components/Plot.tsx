/** A uPlot chart that follows its container's width. `opts` and `data` must be memoised by the caller. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { useWidth } from '../hooks.ts';

export function Plot({ opts, data, height, testid }: { opts: Omit<uPlot.Options, 'width' | 'height'>; data: uPlot.AlignedData; height: number; testid?: string }) {
  const [measure, width] = useWidth<HTMLDivElement>();
  const host = useRef<HTMLDivElement | null>(null);
  const plot = useRef<uPlot | null>(null);
  const ready = width > 0;
  useEffect(() => {
    if (!ready || !host.current) return;
    const p = new uPlot({ ...opts, width: host.current.clientWidth, height }, data, host.current);
    plot.current = p;
    return () => {
      p.destroy();
      plot.current = null;
    };
  }, [opts, data, ready]);
  useEffect(() => {
    if (plot.current && width > 0) plot.current.setSize({ width, height });
  }, [width, height]);
  return (
    <div
      class="plot"
      data-testid={testid}
      ref={(el) => {
        host.current = el;
        measure(el);
      }}
    />
  );
}
