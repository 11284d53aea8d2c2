import { createHash } from 'node:crypto';

/**
 * Conditional requests (RFC 9110 §8.8.3, §13.1): a strong entity tag over the exact JSON text
 * answered, so the gateway's fast path and controller, which answer the same text, give the same
 * tag, and a service holding the same view (parsed by the same response schema) can check one.
 */
export function etagOf(body: string): string {
  return `"${createHash('sha1').update(body).digest('base64url')}"`;
}

/**
 * Whether `If-None-Match` names this tag (or `*`): the client's copy is current, a 304 answers.
 * Compared weakly, as the RFC asks for this header: `W/"x"` matches `"x"`.
 */
export function notModified(ifNoneMatch: string | string[] | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  const header = Array.isArray(ifNoneMatch) ? ifNoneMatch.join(',') : ifNoneMatch;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/**
 * Whether `If-Match` allows a change to the representation tagged `etag`: `*` (it exists) or one
 * of the listed tags, compared strongly as the RFC asks (a weak `W/"x"` never matches).
 */
export function preconditionHolds(ifMatch: string, etag: string): boolean {
  if (ifMatch.trim() === '*') return true;
  return ifMatch.split(',').some((tag) => tag.trim() === etag);
}
