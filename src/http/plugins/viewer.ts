/**
 * The map viewer: serves the built single-page app (`dist/web/`, `npm run build`) at `/`.
 *
 * Files that exist under the build folder are sent as they are (hashed assets under `/assets/` cached
 * for a year, everything else revalidated). Any other GET whose Accept names text/html (a browser
 * navigation, not a script or fetch) and that is not under `/v1`, `/docs` or `/health` gets
 * `index.html`, so deep links such as `/contrasts/<id>?layer=conv4` open the viewer. Everything else
 * falls through to the app's JSON 404.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import { PROJECT_ROOT } from '../../config.ts';

export interface ViewerOptions {
  /** Folder with the built viewer (index.html, assets/). Default: `<project>/dist/web`. */
  root?: string;
}

export const VIEWER_ROOT = path.join(PROJECT_ROOT, 'dist', 'web');

const API_PREFIXES = ['/v1', '/docs', '/health'];

function isApiPath(p: string): boolean {
  return API_PREFIXES.some((pre) => p === pre || p.startsWith(pre + '/'));
}

function acceptsHtml(req: FastifyRequest): boolean {
  const a = req.headers.accept;
  return typeof a === 'string' && /\btext\/html\b/.test(a);
}

export async function viewerPlugin(app: FastifyInstance, opts: ViewerOptions = {}): Promise<void> {
  const root = path.resolve(opts.root ?? VIEWER_ROOT);
  // @fastify/static only decorates reply.sendFile here; the routes below decide what is served.
  await app.register(fastifyStatic, { root, serve: false, wildcard: false, index: false, dotfiles: 'deny' });

  const sendIndex = (reply: FastifyReply) => {
    if (!fs.existsSync(path.join(root, 'index.html'))) {
      return reply
        .status(503)
        .send({ statusCode: 503, error: 'Service Unavailable', code: 'VIEWER_NOT_BUILT', message: `the viewer is not built: run npm run build (expected ${root}/index.html)` });
    }
    return reply.header('Cache-Control', 'no-cache').sendFile('index.html', { cacheControl: false });
  };

  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    let pathname: string;
    try {
      pathname = decodeURIComponent(req.url.split('?')[0]);
    } catch {
      return reply.callNotFound();
    }
    if (isApiPath(pathname)) return reply.callNotFound();
    if (pathname !== '/' && !pathname.includes('\0')) {
      const file = path.resolve(root, '.' + pathname);
      if (file.startsWith(root + path.sep) && fs.statSync(file, { throwIfNoEntry: false })?.isFile()) {
        const rel = path.relative(root, file);
        if (rel.startsWith('assets' + path.sep)) return reply.sendFile(rel, { maxAge: '365d', immutable: true });
        return reply.sendFile(rel, { maxAge: 0, immutable: false });
      }
    }
    if (!acceptsHtml(req) || pathname.startsWith('/assets/')) return reply.callNotFound();
    return sendIndex(reply);
  };

  app.get('/', { schema: { hide: true } }, handler);
  app.get('/*', { schema: { hide: true } }, handler);
}
