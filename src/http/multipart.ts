/** Multipart uploads for the use cases, with a malformed or truncated body reported as a 400. */
import type { FastifyRequest } from 'fastify';
import { AppError, ValidationError } from '../domain/errors.ts';

function asUploadError(e: unknown): unknown {
  if (e instanceof AppError) return e;
  const fe = e as { statusCode?: number; message?: string };
  if (typeof fe.statusCode === 'number' && fe.statusCode < 500) return e;
  return new ValidationError(`the multipart body is malformed or truncated: ${fe.message ?? String(e)}`, 'body');
}

/** The parts of a multipart request; fails with a 400 when the request is not multipart. */
export async function* multipartParts<T>(req: FastifyRequest): AsyncGenerator<T> {
  if (!req.isMultipart()) throw new ValidationError('send multipart/form-data (with a boundary) for an upload', 'body');
  try {
    for await (const part of req.parts()) yield part as T;
  } catch (e) {
    throw asUploadError(e);
  }
}

/**
 * Runs a use case that consumes an upload: the parser's errors (a body that ends before its closing
 * boundary, a broken part) surface while the use case reads a file's stream, and become 400s.
 */
export async function uploading<R>(fn: () => Promise<R>): Promise<R> {
  try {
    return await fn();
  } catch (e) {
    throw asUploadError(e);
  }
}
