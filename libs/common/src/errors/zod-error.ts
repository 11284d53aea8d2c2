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

/** An unpaired UTF-16 surrogate: in a unicode-mode regex a well-formed pair is one code point, so only a lone half matches. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * The path of the first string (value or key) in a JSON value that is not well-formed Unicode.
 * JSON lets a client send one (`"\ud83d"` alone); no store keeps it (MySQL's JSON check and utf8mb4
 * columns refuse it), so without this it failed at the database, as a 500, after validation.
 */
export function illFormedStringPath(value: unknown): (string | number)[] | undefined {
  const stack: { value: unknown; path: (string | number)[] }[] = [{ value, path: [] }];
  while (stack.length) {
    const { value: v, path } = stack.pop()!;
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) return path;
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push({ value: item, path: [...path, i] }));
    } else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        if (LONE_SURROGATE.test(k)) return [...path, k];
        stack.push({ value: item, path: [...path, k] });
      }
    }
  }
  return undefined;
}

/** The 400 for a value with a string that is not well-formed Unicode, or undefined. */
export function illFormedStringError(value: unknown, where = 'body'): DomainError | undefined {
  const path = illFormedStringPath(value);
  if (!path) return undefined;
  const field = path.length ? path.join('.') : where;
  const message = 'contains an unpaired UTF-16 surrogate (not valid Unicode)';
  return new DomainError(ErrorCode.VALIDATION_FAILED, `Invalid ${path.length ? `${where}.${field}` : where}: ${message}`, [
    { field, message },
  ]);
}

/** Parses with a schema or throws the 400 above. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, where = 'body'): z.output<S> {
  const illFormed = illFormedStringError(value, where);
  if (illFormed) throw illFormed;
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error, where);
  return result.data;
}
