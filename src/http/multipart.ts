/** Multipart parts for the use cases, with a malformed or truncated body reported as a 400. */
import type { FastifyRequest } from 'fastify';
import { AppError, ValidationError } from '../domain/errors.ts';

export async function* multipartParts<T>(req: FastifyRequest): AsyncGenerator<T> {
  if (!req.isMultipart()) throw new ValidationError('send multipart/form-data (with a boundary) for an upload', 'body');
  try {
    for await (const part of req.parts()) yield part as T;
  } catch (e) {
    if (e instanceof AppError) throw e;
    const fe = e as { statusCode?: number; message?: string };
    if (typeof fe.statusCode === 'number' && fe.statusCode < 500) throw e;
    throw new ValidationError(`the multipart body is malformed or truncated: ${fe.message ?? String(e)}`, 'body');
  }
}
