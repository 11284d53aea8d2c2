import type { z } from 'zod';
import { ErrorCode } from '#contracts';
import { DomainError } from './domain-error';

/**
 * One issue's message. A plain union that no branch accepted reports only "Invalid input" (its
 * branches' own issues are nested inside it), which names the field but not the problem: say what
 * each accepted form wanted instead.
 */
function describe(issue: z.core.$ZodIssue): string {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return issue.message;
  const forms = issue.errors.map(
    (branch, n) => `(${n + 1}) ${branch.map((i) => (i.path.length ? `${i.path.join('.')}: ` : '') + i.message).join(', ')}`,
  );
  return `matches none of the accepted forms: ${forms.join('; ')}`;
}

/** Turns zod issues into a 400 that names each offending field. */
export function validationError(error: z.ZodError, where = 'body'): DomainError {
  const details = error.issues.map((i) => ({
    field: i.path.length ? i.path.join('.') : where,
    message: describe(i),
    ...(i.code === 'unrecognized_keys' ? { fields: i.keys } : {}),
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
