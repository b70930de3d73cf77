/** API key entry (kept in sessionStorage for this tab) and the banner shown after a 401. */
import { useEffect, useState } from 'preact/hooks';
import { apiKey, authStatus, onAuthChange, setApiKey } from '../api.ts';

function useAuth() {
  const [s, setS] = useState(authStatus);
  useEffect(() => onAuthChange(setS), []);
  return s;
}

export function ApiKeyButton() {
  const auth = useAuth();
  const [open, setOpen] = useState(false);
  const [value, setValue] = useState('');
  const [hasKey, setHasKey] = useState(() => apiKey() !== null);
  useEffect(() => {
    if (auth.required) setOpen(true);
  }, [auth.required]);
  const save = (e: Event) => {
    e.preventDefault();
    setApiKey(value.trim() || null);
    setHasKey(value.trim() !== '');
    setValue('');
    setOpen(false);
  };
  const forget = () => {
    setApiKey(null);
    setHasKey(false);
    setOpen(false);
  };
  return (
    <div class="apikey">
      <button type="button" class={`btn btn-ghost ${auth.required ? 'btn-warn' : ''}`} onClick={() => setOpen(!open)} data-testid="api-key-button" aria-expanded={open}>
        API key: {hasKey ? 'set' : 'none'}
      </button>
      {open && (
        <form class="apikey-pop" onSubmit={save} data-testid="api-key-form">
          <label for="apikey-input">API key for writes</label>
          <input id="apikey-input" type="password" autocomplete="off" value={value} onInput={(e) => setValue(e.currentTarget.value)} placeholder={hasKey ? '•••••• (set)' : 'paste the key'} data-testid="api-key-input" autoFocus />
          <p class="muted small">Sent as <code>Authorization: Bearer …</code> on every request, kept in this tab only (sessionStorage).</p>
          <div class="row gap">
            <button type="submit" class="btn btn-primary" data-testid="api-key-save">
              Save
            </button>
            {hasKey && (
              <button type="button" class="btn" onClick={forget}>
                Forget
              </button>
            )}
          </div>
        </form>
      )}
    </div>
  );
}

export function AuthBanner() {
  const auth = useAuth();
  if (!auth.required) return null;
  return (
    <div class="auth-banner" role="alert" data-testid="auth-banner">
      <strong>This server needs an API key for changes</strong> (running contrasts, making masks, comparing maps). Enter it with “API key” at the top right; it stays in this
      browser tab only. <span class="muted">Server said: {auth.message}</span>
    </div>
  );
}
