/** Small data hooks: a promise as state, polling while a condition holds, an element's width. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Async<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
}

/** Runs `fn` when `deps` change; with `pollMs`, again every pollMs while `keepPolling(data)` holds. */
export function useAsync<T>(fn: () => Promise<T>, deps: unknown[], poll?: { ms: number; while: (d: T) => boolean }): Async<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const pollRef = useRef(poll);
  pollRef.current = poll;
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = (first: boolean) => {
      if (first) setState((s) => ({ ...s, loading: true }));
      fnRef.current().then(
        (data) => {
          if (!alive) return;
          setState({ data, loading: false });
          const p = pollRef.current;
          if (p && p.while(data)) timer = setTimeout(() => run(false), p.ms);
        },
        (error: Error) => {
          if (!alive) return;
          setState((s) => ({ data: first ? undefined : s.data, error, loading: false }));
        },
      );
    };
    run(true);
    return () => {
      alive = false;
      if (timer) clearTimeout(timer);
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** The content width of an element, updated on resize. */
export function useWidth<E extends HTMLElement>(): [(el: E | null) => void, number] {
  const [width, setWidth] = useState(0);
  const obs = useRef<ResizeObserver | null>(null);
  const ref = useCallback((el: E | null) => {
    obs.current?.disconnect();
    if (!el) return;
    setWidth(el.clientWidth);
    obs.current = new ResizeObserver((entries) => setWidth(Math.floor(entries[0].contentRect.width)));
    obs.current.observe(el);
  }, []);
  return [ref, width];
}
