import { createHash, randomBytes } from 'node:crypto';

/**
 * Opaque secrets (refresh tokens, API keys). They are high-entropy random strings, so a plain
 * SHA-256 is a sufficient at-rest hash (no salt/stretching needed, unlike passwords) and allows
 * lookup by hash.
 */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

export const REFRESH_TOKEN_PREFIX = 'rt_';

export function newRefreshToken(): string {
  return REFRESH_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** API keys look like `mcp_<8 hex prefix>_<43 chars secret>`; the prefix identifies a key in lists and logs. */
export const API_KEY_RE = /^mcp_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$/;

export function newApiKey(): { key: string; prefix: string } {
  const prefix = randomBytes(4).toString('hex');
  return { key: `mcp_${prefix}_${randomBytes(32).toString('base64url')}`, prefix };
}

export function parseApiKey(candidate: string): { prefix: string } | undefined {
  const m = API_KEY_RE.exec(candidate);
  return m ? { prefix: m[1] } : undefined;
}

export function looksLikeApiKey(candidate: string): boolean {
  return candidate.startsWith('mcp_');
}
