import { Inject, Injectable } from '@nestjs/common';
import { createSecretKey, type KeyObject } from 'node:crypto';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { ErrorCode } from '#contracts';
import { APP_CONFIG, DomainError, LocalCache, type AppConfig } from '#common';
import { AuthStateService, type UserState } from './auth-state.service';
import type { AuthedRequest, Principal } from './principal';
import { RateLimiterService, type Limit } from '../http/rate-limiter.service';
import { ACCESS_TOKEN_TYPE, type AccessClaims } from './token.service';

/**
 * Verifies access tokens: HS256 only (so `alg: none` and algorithm-confusion tokens fail),
 * issuer, audience, expiry and token type; then checks that the user still exists, is enabled,
 * has not changed password since, and that the login was not logged out.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  /** How long a verified token's claims are reused at most (each use checks its expiry too). */
  static readonly VERIFIED_TTL_MS = 60_000;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(AuthStateService) private readonly authState: AuthStateService,
    @Inject(RateLimiterService) private readonly limiter: RateLimiterService,
  ) {
    // A KeyObject, not the string: given a string, jsonwebtoken first tries to parse it as a PEM
    // public key on every verification (measured: a quarter of the gateway's CPU time). passport-jwt
    // hands the key to jsonwebtoken unchanged; its typings just predate KeyObject support.
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKey: jwtKey(config) as unknown as Buffer,
      passReqToCallback: true,
      ...jwtVerifyOptions(config),
    });
  }

  /**
   * Signature checks are the costliest part of a request, and a client sends the same token many
   * times: claims of tokens that passed verification are remembered (keyed by the exact token
   * string, until it expires, at most a minute). Revocation is unaffected: `validate` — session,
   * user and version checks — runs for every request.
   */
  private readonly verified = new LocalCache<VerifiedClaims>(JwtStrategy.VERIFIED_TTL_MS, 50_000);

  /** Claims of a token verified before and not yet expired, if any. */
  verifiedClaims(token: string): VerifiedClaims | undefined {
    const claims = this.verified.get(token);
    return claims && unexpired(claims) ? claims : undefined;
  }

  /** passport's callback, after it verified the signature: checks the login and remembers the token's claims. */
  async validate(request: AuthedRequest, claims: VerifiedClaims): Promise<Principal> {
    const principal = await this.check(request, claims);
    const token = request.headers.authorization?.slice(7).trim();
    if (token && typeof claims.exp === 'number')
      this.verified.set(token, claims, Math.min(JwtStrategy.VERIFIED_TTL_MS, claims.exp * 1000 - Date.now()));
    return principal;
  }

  /** Everything but the signature, for every request: token type, rate limits, user, session, token version. */
  async check(request: AuthedRequest, claims: Partial<AccessClaims>): Promise<Principal> {
    const access = accessClaims(claims);
    // The signature is valid, so the subject is who it claims to be: count the request against
    // the IP and the user in the same Redis round trip as the session check.
    const limits = this.limits(request, access);
    request.rateLimited = true;
    return principalOf(access, await this.authState.load(access.sub, access.sid, limits, request.authSynced));
  }

  /**
   * The login of claims verified before, as it stands now (a revoked session, a disabled user or a
   * bumped token version refuse), counting nothing against the rate limits: for a caller whose
   * answer is still running (an event stream) after something about them changed.
   */
  async recheck(claims: Partial<AccessClaims>): Promise<Principal> {
    const access = accessClaims(claims);
    return principalOf(access, await this.authState.load(access.sub, access.sid));
  }

  /**
   * `check` decided from this instance's caches alone (known user, live session, rate-limit blocks
   * with room), synchronously, for a request they were synced for; undefined, having counted
   * nothing, when it needs a round trip. A refusal throws as `check` would.
   */
  checkLocally(request: AuthedRequest, claims: Partial<AccessClaims>): Principal | undefined {
    if (!request.authSynced) return undefined;
    const access = accessClaims(claims);
    const state = this.authState.loadLocally(access.sub, access.sid, this.limits(request, access));
    if (!state) return undefined;
    request.rateLimited = true;
    return principalOf(access, state);
  }

  private limits(request: AuthedRequest, claims: AccessClaimsShape): Limit[] {
    return [this.limiter.ip(request.ip), this.limiter.principal(`user:${claims.sub}`)];
  }
}

type AccessClaimsShape = Partial<AccessClaims> & { sub: string; sid: string };

/** The claims of a token whose signature was verified. */
export type VerifiedClaims = Partial<AccessClaims> & { exp?: number };

/** Whether verified claims are still within their token's lifetime. */
export function unexpired(claims: VerifiedClaims): boolean {
  return typeof claims.exp === 'number' && claims.exp * 1000 > Date.now();
}

function accessClaims(claims: Partial<AccessClaims>): AccessClaimsShape {
  if (claims.typ !== ACCESS_TOKEN_TYPE || typeof claims.sub !== 'string' || typeof claims.sid !== 'string') {
    throw new DomainError(ErrorCode.INVALID_TOKEN, 'Bearer token is not an access token');
  }
  return claims as AccessClaimsShape;
}

/** The principal of an access token whose login state was loaded, or the refusal. */
function principalOf(claims: AccessClaimsShape, { user, sessionRevoked }: { user?: UserState; sessionRevoked: boolean }): Principal {
  if (!user || user.disabled) throw new DomainError(ErrorCode.INVALID_TOKEN, 'The account of this token no longer exists or is disabled');
  if (sessionRevoked || user.token_version !== claims.ver) {
    throw new DomainError(ErrorCode.INVALID_TOKEN, 'This access token has been revoked; log in again');
  }
  return { userId: user.id, username: user.username, role: user.role, via: 'jwt', sessionId: claims.sid, user };
}

/** The HS256 signing key as a KeyObject (see the constructor above). */
export function jwtKey(config: AppConfig): KeyObject {
  return createSecretKey(Buffer.from(config.auth.jwtSecret!, 'utf8'));
}

/** What an access token must satisfy besides its signature (shared with the tests). */
export function jwtVerifyOptions(config: AppConfig) {
  return { algorithms: ['HS256' as const], issuer: config.auth.issuer, audience: config.auth.audience, ignoreExpiration: false };
}

/** A clear message for each way passport-jwt/jsonwebtoken can refuse a token. */
export function describeJwtFailure(info: unknown): DomainError {
  const e = info as { name?: string; message?: string } | undefined;
  if (e?.name === 'TokenExpiredError') {
    return new DomainError(ErrorCode.TOKEN_EXPIRED, 'Access token has expired; get a new one with POST /api/v1/auth/refresh');
  }
  const message = e?.message ?? '';
  if (message === 'No auth token') {
    return new DomainError(
      ErrorCode.UNAUTHENTICATED,
      'Authentication required: send "Authorization: Bearer <access token>" or "X-API-Key: <key>"',
    );
  }
  if (message === 'invalid algorithm' || message === 'jwt signature is required') {
    return new DomainError(ErrorCode.INVALID_TOKEN, 'Access token algorithm is not accepted (only signed HS256 tokens are)');
  }
  if (message === 'invalid signature') return new DomainError(ErrorCode.INVALID_TOKEN, 'Access token signature is invalid');
  if (message.startsWith('jwt audience invalid') || message.startsWith('jwt issuer invalid')) {
    return new DomainError(ErrorCode.INVALID_TOKEN, 'Access token was not issued for this API (issuer/audience mismatch)');
  }
  if (message === 'jwt malformed' || message.startsWith('invalid token') || message === 'jwt must be provided') {
    return new DomainError(ErrorCode.INVALID_TOKEN, 'Bearer token is not a valid access token (malformed JWT)');
  }
  return new DomainError(ErrorCode.INVALID_TOKEN, `Access token is invalid${message ? `: ${message}` : ''}`);
}
