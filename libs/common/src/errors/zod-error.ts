import type { z } from 'zod';
import { ErrorCode } from '#contracts';
import { DomainError } from './domain-error';

/** Turns zod issues into a 400 that names each offending field. */
export function validationError(error: z.ZodError, where = 'body'): DomainError {
  const details = error.issues.map((i) => ({
    field: i.path.length ? i.path.join('.') : where,
    message: i.message,
    ...(i.code === 'unrecognized_keys' ? { fields: (i as { keys?: string[] }).keys } : {}),
  }));
  const first = details[0];
  const summary = first
    ? first.field === where
      ? `${where}: ${first.message}`
      : `${where}.${first.field}: ${first.message}`
    : `${where} is invalid`;
  const more = details.length > 1 ? ` (and ${details.length - 1} more problem${details.length > 2 ? 's' : ''})` : '';
  return new DomainError(ErrorCode.VALIDATION_FAILED, `Invalid ${summary}${more}`, details);
}

/** Parses with a schema or throws the 400 above. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, where = 'body'): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error, where);
  return result.data;
}
