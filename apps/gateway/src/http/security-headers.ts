import helmet, { type HelmetOptions } from 'helmet';

/**
 * API responses are JSON, never rendered: the strictest policy (OWASP REST cheat sheet) — load
 * nothing, never be framed.
 */
export const API_HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  frameguard: { action: 'deny' },
};

/** Swagger UI at /api/docs is the only HTML: it needs inline styles and scripts. */
export const DOCS_HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      scriptSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
    },
  },
};

/**
 * Helmet's security headers, computed once. Our policy has no per-request parts (no CSP nonces),
 * so running helmet's middleware for every request — which re-serialises the whole policy each
 * time (measured: a third of a trivial route's cost) — buys nothing; the same headers are set
 * from this precomputed map instead.
 */
export function securityHeaders(options: HelmetOptions = API_HELMET_OPTIONS): Record<string, string> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader: (name: string, value: unknown) => {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
    getHeader: (name: string) => headers[name.toLowerCase()],
  };
  let done = false;
  helmet(options)({} as never, res as never, () => {
    done = true;
  });
  if (!done) throw new Error('helmet did not finish synchronously; cannot precompute its headers');
  return headers;
}
