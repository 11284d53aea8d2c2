import { API_KEY_RE, looksLikeApiKey, newApiKey, newRefreshToken, parseApiKey, sha256Hex } from './secrets';

describe('secrets', () => {
  it('makes API keys that parse back to their prefix and never repeat', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const { key, prefix } = newApiKey();
      expect(key).toMatch(API_KEY_RE);
      expect(parseApiKey(key)).toEqual({ prefix });
      expect(looksLikeApiKey(key)).toBe(true);
      seen.add(key);
    }
    expect(seen.size).toBe(200);
  });

  it('rejects malformed API keys', () => {
    for (const bad of [
      '',
      'mcp_',
      'mcp_zzzzzzzz_abc',
      'mcp_0123abcd_short',
      'xyz_0123abcd_' + 'a'.repeat(43),
      'mcp_0123abcd_' + 'a'.repeat(44),
    ]) {
      expect(parseApiKey(bad)).toBeUndefined();
    }
  });

  it('makes refresh tokens with 256 bits of randomness and a recognisable prefix', () => {
    const t = newRefreshToken();
    expect(t.startsWith('rt_')).toBe(true);
    expect(Buffer.from(t.slice(3), 'base64url')).toHaveLength(32);
    expect(newRefreshToken()).not.toBe(t);
  });

  it('hashes deterministically (stored hashes are looked up by value)', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
