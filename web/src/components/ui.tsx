/** Shared pieces: links, cards, state badges, progress bars, error boxes. */
import type { ComponentChildren, JSX } from 'preact';
import { navigate } from '../router.ts';
import type { Contrast, JobState } from '../types.ts';
import { ApiError } from '../api.ts';

export function Link(props: JSX.HTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const onClick = (e: MouseEvent) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.href);
  };
  return <a {...props} onClick={onClick} />;
}

export function Card(props: { title?: ComponentChildren; actions?: ComponentChildren; class?: string; children: ComponentChildren; testid?: string }) {
  return (
    <section class={`card ${props.class ?? ''}`} data-testid={props.testid}>
      {(props.title || props.actions) && (
        <header class="card-head">
          <h2>{props.title}</h2>
          {props.actions && <div class="card-actions">{props.actions}</div>}
        </header>
      )}
      <div class="card-body">{props.children}</div>
    </section>
  );
}

export function StateBadge({ state }: { state: JobState }) {
  return (
    <span class={`badge badge-${state}`} data-testid="contrast-state">
      {state}
    </span>
  );
}

/** The progress of a job: stimuli through the model, then the statistics; 100 % only once it succeeded. */
export function Progress({ c }: { c: Contrast }) {
  const pct = c.state === 'succeeded' ? 100 : Math.min(99, Math.round(100 * c.progress.fraction));
  const text =
    c.state === 'running' && c.progress.total > 0 && c.progress.done >= c.progress.total
      ? 'computing statistics…'
      : c.state === 'queued'
        ? 'queued'
        : `${c.progress.done} / ${c.progress.total} stimuli`;
  return (
    <div class="progress-wrap">
      <div class={`progress progress-${c.state}`} role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct} data-testid="progress">
        <div class="progress-fill" style={{ width: `${pct}%` }} />
      </div>
      <span class="progress-text">{c.state === 'succeeded' ? `${c.progress.total} stimuli` : text}</span>
    </div>
  );
}

export function ErrorBox({ error, testid = 'error' }: { error: unknown; testid?: string }) {
  if (!error) return null;
  const e = error as Error;
  const api = error instanceof ApiError ? error : null;
  return (
    <div class="error-box" role="alert" data-testid={testid}>
      <strong>{api ? `${api.status} ${api.code}` : 'Error'}</strong>
      {api?.field ? <span class="muted"> (field {api.field})</span> : null}: {e.message}
      {api?.status === 401 && <div>Enter the server's API key with the “API key” button at the top right, then try again.</div>}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return <div class="loading">Loading {what}…</div>;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}
