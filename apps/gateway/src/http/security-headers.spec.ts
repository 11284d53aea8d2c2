import { DOCS_HELMET_OPTIONS, securityHeaders } from './security-headers';

describe('security headers', () => {
  it("are helmet's, with the strictest policy for JSON responses", () => {
    const h = securityHeaders();
    expect(h['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
    expect(h['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(h['x-content-type-options']).toBe('nosniff');
    expect(h['x-frame-options']).toBe('DENY');
    expect(h['referrer-policy']).toBe('no-referrer');
    expect(h['x-powered-by']).toBeUndefined();
    // Exactly these: the document-only and obsolete ones are left out (see API_HELMET_OPTIONS).
    expect(Object.keys(h).sort()).toEqual([
      'content-security-policy',
      'cross-origin-resource-policy',
      'referrer-policy',
      'strict-transport-security',
      'x-content-type-options',
      'x-frame-options',
    ]);
    expect(h['cross-origin-resource-policy']).toBe('same-origin');
  });

  it('let the Swagger UI page load its own scripts and styles only', () => {
    const h = securityHeaders(DOCS_HELMET_OPTIONS);
    expect(h['content-security-policy']).toContain("script-src 'self' 'unsafe-inline'");
    expect(h['content-security-policy']).toContain("object-src 'none'");
    // An HTML page gets helmet's whole set, the document-only headers included.
    expect(h).toMatchObject({ 'cross-origin-opener-policy': 'same-origin', 'x-frame-options': 'SAMEORIGIN', 'x-xss-protection': '0' });
  });
});
