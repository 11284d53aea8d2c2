import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level and no whitespace, so the same content always has
 * the same text — and the same hash — whatever order a client sent its keys in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The content hash of a version: SHA-256 over the canonical JSON of its config and manifest. */
export function contentHash(config: unknown, manifest: unknown): string {
  return createHash('sha256')
    .update(canonicalJson({ config, manifest: manifest ?? null }), 'utf8')
    .digest('hex');
}
