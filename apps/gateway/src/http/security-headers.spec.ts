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
  });

  it('let the Swagger UI page load its own scripts and styles only', () => {
    const h = securityHeaders(DOCS_HELMET_OPTIONS);
    expect(h['content-security-policy']).toContain("script-src 'self' 'unsafe-inline'");
    expect(h['content-security-policy']).toContain("object-src 'none'");
  });
});
