import helmet, { type HelmetOptions } from 'helmet';

/**
 * API responses are JSON, never rendered: the headers of the OWASP REST Security Cheat Sheet with
 * the strictest policy — load nothing, never be framed (CSP and X-Frame-Options), HTTPS only,
 * no MIME sniffing, no referrer — and Cross-Origin-Resource-Policy, which keeps another site's page
 * from pulling an answer into its own process with a no-cors load. Helmet's headers that act only
 * on an HTML document or on browsers and plug-ins long gone (COOP, Origin-Agent-Cluster, DNS
 * prefetch, IE8's download option, Flash's cross-domain policies, the retired XSS auditor) are left
 * out: on a JSON answer they protect nothing, and every header is work on both ends of every
 * request (19 headers made a cached read's answer; Node's handling of them was a tenth of the
 * gateway's CPU for it). The Swagger UI page, which is HTML, keeps helmet's full set.
 */
export const API_HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  frameguard: { action: 'deny' },
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
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
