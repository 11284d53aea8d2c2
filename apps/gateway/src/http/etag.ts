import { createHash } from 'node:crypto';

/**
 * Conditional reads (RFC 9110 §8.8.3, §13.1.2): a strong entity tag over the exact JSON text
 * answered, so the fast path and the controller, which answer the same text, give the same tag.
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
