/** The shell: header with navigation and the API key, and the page for the current path. */
import { CatalogProvider } from '../catalog.tsx';
import { useLocation } from '../router.ts';
import { ApiKeyButton, AuthBanner } from './ApiKey.tsx';
import { BatteryPage, ContrastsPage } from './Contrasts.tsx';
import { ContrastForm } from './ContrastForm.tsx';
import { ContrastPage } from './MapExplorer.tsx';
import { ModelPage, ModelsPage, SetPage, SetsPage } from './Catalog.tsx';
import { Link } from './ui.tsx';

function Page({ path, query }: { path: string; query: URLSearchParams }) {
  const seg = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (seg.length === 0 || (seg[0] === 'contrasts' && seg.length === 1)) return <ContrastsPage />;
  if (seg[0] === 'contrasts' && seg[1] === 'new') return <ContrastForm query={query} />;
  if (seg[0] === 'contrasts') return <ContrastPage key={seg[1]} id={seg[1]} query={query} />;
  if (seg[0] === 'batteries' && seg[1]) return <BatteryPage id={seg[1]} />;
  if (seg[0] === 'models') return seg[1] ? <ModelPage id={seg[1]} /> : <ModelsPage />;
  if (seg[0] === 'sets') return seg[1] ? <SetPage id={seg[1]} /> : <SetsPage />;
  return (
    <div class="page">
      <h1>Not found</h1>
      <p>
        Nothing lives at <code>{path}</code>. <Link href="/">Back to the contrasts</Link>.
      </p>
    </div>
  );
}

export function App() {
  const loc = useLocation();
  const section = loc.path.split('/')[1] || 'contrasts';
  const nav = [
    ['/contrasts', 'Contrasts', 'contrasts'],
    ['/contrasts/new', 'New contrast', 'new'],
    ['/models', 'Models', 'models'],
    ['/sets', 'Stimulus sets', 'sets'],
  ] as const;
  const current = loc.path === '/contrasts/new' ? 'new' : section;
  return (
    <CatalogProvider>
      <header class="topbar">
        <Link href="/" class="brand" aria-label="toposcope home">
          <svg viewBox="0 0 16 16" width="20" height="20" aria-hidden="true">
            <rect x="1" y="1" width="7" height="7" fill="#d6604d" />
            <rect x="8" y="1" width="7" height="7" fill="#f7f7f7" />
            <rect x="1" y="8" width="7" height="7" fill="#d1e5f0" />
            <rect x="8" y="8" width="7" height="7" fill="#4393c3" />
          </svg>
          toposcope
        </Link>
        <nav>
          {nav.map(([href, label, key]) => (
            <Link key={href} href={href} class={current === key || (key === 'contrasts' && current === 'batteries') ? 'active' : ''} data-testid={`nav-${key}`}>
              {label}
            </Link>
          ))}
          <a href="/docs" target="_blank" rel="noopener">
            API docs
          </a>
        </nav>
        <ApiKeyButton />
      </header>
      <AuthBanner />
      <main>
        <Page path={loc.path} query={loc.query} />
      </main>
    </CatalogProvider>
  );
}
