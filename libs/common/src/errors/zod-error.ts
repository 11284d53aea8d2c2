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
  if (typeof value === 'string') return LONE_SURROGATE.test(value) ? [] : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  // Every request body passes through here: no object or path array per node. The containers met
  // so far sit in parallel arrays (each with its parent's index and its key there), only
  // containers are queued (strings are tested where they are met), and a path is built only for
  // the string found. Iterative, not recursive, so a deeply nested body cannot overflow the stack.
  const containers: object[] = [value];
  const parents: number[] = [-1];
  const keys: (string | number)[] = [0];
  const pathTo = (at: number, last: string | number): (string | number)[] => {
    const path = [last];
    for (let i = at; i > 0; i = parents[i]) path.push(keys[i]);
    return path.reverse();
  };
  const visit = (item: unknown, parent: number, key: string | number): boolean => {
    if (typeof item === 'string') return LONE_SURROGATE.test(item);
    if (item !== null && typeof item === 'object') {
      containers.push(item);
      parents.push(parent);
      keys.push(key);
    }
    return false;
  };
  for (let at = 0; at < containers.length; at++) {
    const v = containers[at];
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) if (visit(v[i], at, i)) return pathTo(at, i);
    } else {
      const record = v as Record<string, unknown>;
      for (const k of Object.keys(record)) {
        if (LONE_SURROGATE.test(k) || visit(record[k], at, k)) return pathTo(at, k);
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

/** How many of an object's fields an unknown-field message lists, at most. */
const ACCEPTED_KEYS_SHOWN = 20;

/**
 * Zod's message for unknown fields, with the fields the object accepts: a client that sent
 * `limit` where the API says `page_size` learns the spelling from the error, not from the docs.
 * The object that refused the fields is known only while the issue is raised (`inst`), so this
 * is an error map for the parse. A schema's own message for the case (the manifest's, naming
 * MCP's spellings) still wins: zod asks a schema's own error map first.
 */
function namingAcceptedKeys(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code !== 'unrecognized_keys') return undefined;
  const def = (issue.inst as { _zod?: { def?: { shape?: object } } } | undefined)?._zod?.def;
  const accepted = def?.shape ? Object.keys(def.shape) : [];
  if (accepted.length === 0) return undefined;
  const keys = issue.keys;
  const given = `Unrecognized key${keys.length > 1 ? 's' : ''}: ${keys.map((k) => JSON.stringify(k)).join(', ')}`;
  const more = accepted.length > ACCEPTED_KEYS_SHOWN ? `, … (${accepted.length - ACCEPTED_KEYS_SHOWN} more)` : '';
  return `${given}; accepted: ${accepted.slice(0, ACCEPTED_KEYS_SHOWN).join(', ')}${more}`;
}

/** The parse options of every parseOrThrow: one object, not one per request. */
const PARSE_PARAMS = { error: namingAcceptedKeys };

/** Parses with a schema or throws the 400 above. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, where = 'body'): z.output<S> {
  const illFormed = illFormedStringError(value, where);
  if (illFormed) throw illFormed;
  const result = schema.safeParse(value, PARSE_PARAMS);
  if (!result.success) throw validationError(result.error, where);
  return result.data;
}
