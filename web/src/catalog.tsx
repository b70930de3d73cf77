/** Models and stimulus sets, loaded once and shared by every page (names for ids, form options). */
import { createContext, type ComponentChildren } from 'preact';
import { useContext, useMemo } from 'preact/hooks';
import { api } from './api.ts';
import { useAsync } from './hooks.ts';
import type { Model, StimulusSet } from './types.ts';

export interface Catalog {
  models: Model[];
  sets: StimulusSet[];
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
  model: (idOrName: string) => Model | undefined;
  set: (idOrName: string) => StimulusSet | undefined;
  setNames: (ids: string[]) => string;
}

const Ctx = createContext<Catalog | null>(null);

export function CatalogProvider({ children }: { children: ComponentChildren }) {
  const r = useAsync(() => Promise.all([api.models(), api.sets()]), []);
  const value = useMemo<Catalog>(() => {
    const models = r.data?.[0].items ?? [];
    const sets = r.data?.[1].items ?? [];
    const model = (k: string) => models.find((m) => m.id === k || m.name === k);
    const set = (k: string) => sets.find((s) => s.id === k || s.name === k);
    return {
      models,
      sets,
      error: r.error,
      loading: r.loading,
      reload: r.reload,
      model,
      set,
      setNames: (ids) => ids.map((i) => set(i)?.name ?? i).join(' + '),
    };
  }, [r.data, r.error, r.loading, r.reload]);
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useCatalog(): Catalog {
  const c = useContext(Ctx);
  if (!c) throw new Error('useCatalog outside CatalogProvider');
  return c;
}
