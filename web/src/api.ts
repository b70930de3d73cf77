/**
 * The API client: JSON requests with the error shape `{statusCode, code, message, field?}`, the API
 * key from sessionStorage on every request, and a signal when the server answers 401.
 */
import type { Contrast, LayerResult, Model, Page, StimulusSet } from './types.ts';

const KEY_STORAGE = 'toposcope.apiKey';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export function apiKey(): string | null {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

type AuthListener = (state: { required: boolean; message: string | null }) => void;
const authListeners = new Set<AuthListener>();
let authState = { required: false, message: null as string | null };

export function authStatus() {
  return authState;
}

export function onAuthChange(fn: AuthListener): () => void {
  authListeners.add(fn);
  return () => authListeners.delete(fn);
}

function setAuth(required: boolean, message: string | null) {
  authState = { required, message };
  for (const fn of authListeners) fn(authState);
}

/** Stores the key for this tab (sessionStorage) or forgets it with null. */
export function setApiKey(key: string | null): void {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    /* storage disabled: the key lasts until reload */
  }
  setAuth(false, null);
}

async function send(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const key = apiKey();
  if (key) headers.authorization = `Bearer ${key}`;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.ok) return res;
  let code = 'HTTP_' + res.status;
  let message = `${method} ${path}: ${res.status} ${res.statusText}`;
  let field: string | undefined;
  try {
    const e = (await res.json()) as { code?: string; message?: string; field?: string };
    code = e.code ?? code;
    message = e.message ?? message;
    field = e.field;
  } catch {
    /* not JSON */
  }
  if (res.status === 401) setAuth(true, message);
  throw new ApiError(res.status, code, message, field);
}

export async function getJson<T>(path: string): Promise<T> {
  return (await send('GET', path)).json() as Promise<T>;
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const res = await send('POST', path, body);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

export async function deleteJson<T>(path: string): Promise<T | undefined> {
  const res = await send('DELETE', path);
  return res.status === 204 ? undefined : ((await res.json()) as T);
}

export async function getBinary(path: string): Promise<ArrayBuffer> {
  return (await send('GET', path)).arrayBuffer();
}

// Immutable documents (a registered model, a finished layer) are cached for the session.
const cache = new Map<string, Promise<unknown>>();

export function cached<T>(path: string, load: (p: string) => Promise<T> = getJson): Promise<T> {
  let p = cache.get(path) as Promise<T> | undefined;
  if (!p) {
    p = load(path);
    cache.set(path, p);
    p.catch(() => cache.delete(path));
  }
  return p;
}

export const api = {
  models: () => getJson<Page<Model>>('/v1/models?limit=500'),
  sets: () => getJson<Page<StimulusSet>>('/v1/stimulus-sets?limit=500'),
  contrasts: (q = '') => getJson<Page<Contrast>>(`/v1/contrasts?limit=200${q}`),
  contrast: (id: string) => getJson<Contrast>(`/v1/contrasts/${encodeURIComponent(id)}`),
  layer: (id: string, layer: string) => cached<LayerResult>(`/v1/contrasts/${encodeURIComponent(id)}/layers/${encodeURIComponent(layer)}`),
};
