/**
 * Closed sets of values and nullable scalars as single JSON Schema keywords (`enum`, `nullable`)
 * instead of unions. A union (anyOf) validates the same, but the response serialiser tries each of
 * its branches with a validator that it compiles on the route's first response (~100 ms for a
 * contrast document, on the event loop) and runs on every response after; these are written in one
 * step.
 */
import { Type, type SchemaOptions, type Static, type TInteger, type TNumber, type TString, type TUnsafe } from '@sinclair/typebox';

/** One of `values`; `null` among them makes it nullable. */
export function Choice<const T extends readonly (string | number | null)[]>(values: T, options: SchemaOptions = {}): TUnsafe<T[number]> {
  const present = values.filter((v) => v !== null);
  if (present.length === 0) throw new Error('Choice: no values');
  const type = present.every((v) => typeof v === 'string') ? 'string' : present.every((v) => Number.isInteger(v)) ? 'integer' : 'number';
  return Type.Unsafe<T[number]>({ ...options, type, ...(present.length < values.length ? { nullable: true } : {}), enum: [...values] });
}

/** A string, number or integer schema that also takes null. */
export function Nullable<T extends TString | TNumber | TInteger>(schema: T, options: SchemaOptions = {}): TUnsafe<Static<T> | null> {
  return Type.Unsafe<Static<T> | null>({ ...schema, ...options, nullable: true });
}
