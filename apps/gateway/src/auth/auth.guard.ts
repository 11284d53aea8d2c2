import { type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { ErrorCode } from '#contracts';
import { DomainError } from '#common';
import { ApiKeyService } from '../api-keys/api-key.service';
import { RateLimiterService, type Limit } from '../http/rate-limiter.service';
import type { TurnSnapshot } from '../http/turn-state.service';
import { AuthStateService } from './auth-state.service';
import { describeJwtFailure, JwtStrategy, unexpired, type VerifiedClaims } from './jwt.strategy';
import { IS_PUBLIC, JWT_ONLY, REQUIRED_PERMISSION, type AuthedRequest, type Principal } from './principal';
import { hasPermission, type Permission } from './rbac';
import { looksLikeApiKey } from './secrets';

/** What a request presents: the Authorization header, its Bearer token, and an API key (X-API-Key, or a Bearer token shaped like a key). */
function credentials(request: AuthedRequest): { auth?: string; bearer?: string; apiKey?: string } {
  const headerKey = request.headers['x-api-key'];
  const auth = request.headers.authorization;
  const bearer = typeof auth === 'string' && /^bearer /i.test(auth) ? auth.slice(7).trim() : undefined;
  const apiKey = typeof headerKey === 'string' ? headerKey.trim() : bearer && looksLikeApiKey(bearer) ? bearer : undefined;
  return { auth, bearer, apiKey };
}

/**
 * The global gate: every route is authenticated unless marked @Public, and every authenticated
 * route must declare the permission it needs (a route without one is refused, never open).
 * Accepts a JWT access token or an API key (as a Bearer token or in X-API-Key), then applies the
 * per-principal rate limit and the RBAC check.
 */
@Injectable()
export class GatewayAuthGuard extends AuthGuard('jwt') {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(ApiKeyService) private readonly apiKeys: ApiKeyService,
    @Inject(RateLimiterService) private readonly limiter: RateLimiterService,
    @Inject(JwtStrategy) private readonly jwt: JwtStrategy,
    @Inject(AuthStateService) private readonly authState: AuthStateService,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    const request = context.switchToHttp().getRequest<AuthedRequest>();
    const ipLimit = this.limiter.ip(request.ip);
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) {
      await this.limiter.hit(ipLimit);
      return true;
    }
    let principal: Principal;
    if (request.preAuthenticated) {
      // Authenticated (and counted) before Nest by a fast path (see preAuthenticate).
      if (request.preAuthenticated.error) throw request.preAuthenticated.error;
      principal = request.preAuthenticated.principal!;
    } else {
      try {
        principal = await this.authenticate(context, request, ipLimit);
      } catch (err) {
        throw await this.failedAttempt(request, err);
      }
    }
    request.principal = principal;

    if (principal.via === 'api_key' && this.reflector.getAllAndOverride<boolean>(JWT_ONLY, targets)) {
      throw new DomainError(ErrorCode.FORBIDDEN, 'This action needs an interactive login (access token), not an API key');
    }
    const permission = this.reflector.getAllAndOverride<Permission | undefined>(REQUIRED_PERMISSION, targets);
    if (!permission) throw new DomainError(ErrorCode.FORBIDDEN, 'Route has no permission declared; refusing by default');
    if (!hasPermission(principal.role, permission, principal.scopes)) {
      throw new DomainError(
        ErrorCode.FORBIDDEN,
        principal.scopes && hasPermission(principal.role, permission)
          ? `API key scopes (${principal.scopes.join(', ')}) do not allow '${permission}'`
          : `Role '${principal.role}' does not allow '${permission}'`,
        { required_permission: permission },
      );
    }
    return true;
  }

  /**
   * For fast paths that answer before Nest's pipeline (see fast-path.ts): authenticates a request
   * whose credentials need no passport round — an API key, or an access token verified before —
   * with the same checks and rate limits as canActivate, and records the outcome on the request so
   * that, if the fast path cannot answer, canActivate uses it instead of counting the request
   * twice. `snapshot` is the turn state the fast path read after the request arrived; the local
   * caches are synced with it first, and the request is marked synced, so that canActivate does
   * not read it again. Returns undefined, having counted nothing, for anything else (no
   * credentials, a token seen for the first time, a malformed header): canActivate then does the
   * rest.
   */
  preAuthenticate(request: AuthedRequest, snapshot: TurnSnapshot): Principal | undefined | Promise<Principal | undefined> {
    this.authState.observe(snapshot.authEpoch);
    request.authSynced = true;
    let known = this.sameTokenAsBefore(request);
    let apiKey: string | undefined;
    if (!known) {
      const presented = credentials(request);
      apiKey = presented.apiKey;
      known = apiKey === undefined && presented.bearer ? this.jwt.verifiedClaims(presented.bearer) : undefined;
      if (known)
        this.lastVerified.set(request.socket, {
          auth: request.headers.authorization!,
          claims: known,
          until: Date.now() + JwtStrategy.VERIFIED_TTL_MS,
        });
    }
    if (!known && apiKey === undefined) return undefined;
    // A known token of a user and session this instance has seen, within its rate-limit blocks —
    // nearly every request of a busy client — is decided without a promise.
    if (known) {
      let principal: Principal | undefined;
      try {
        principal = this.jwt.checkLocally(request, known);
      } catch (err) {
        return this.refusedBeforeNest(request, err);
      }
      if (principal) return this.preAuthenticated(request, principal);
    }
    const pending = known ? this.jwt.check(request, known) : this.apiKeys.authenticate(apiKey!, [this.limiter.ip(request.ip)], true);
    return pending.then(
      (principal) => this.preAuthenticated(request, principal),
      (err: unknown) => this.refusedBeforeNest(request, err),
    );
  }

  /**
   * For an answer that outlives its request (an event stream), after canActivate let it in: when
   * the caller's access token expires (none for an API key), and `recheck()`, which authenticates
   * the same credentials again as they stand now — a revoked login or key, a disabled user refuse
   * — and gives the user's current role.
   */
  continuing(request: AuthedRequest, principal: Principal): { expiresAt?: number; recheck(): Promise<Principal> } {
    const { bearer, apiKey } = credentials(request);
    if (principal.via === 'api_key' && apiKey !== undefined) return { recheck: () => this.apiKeys.authenticate(apiKey) };
    const claims = bearer ? this.jwt.verifiedClaims(bearer) : undefined;
    if (!claims) throw new DomainError(ErrorCode.INVALID_TOKEN, 'The access token could not be read again; log in again');
    return { expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : undefined, recheck: () => this.jwt.recheck(claims) };
  }

  /**
   * Per connection, the last Authorization header whose token was found verified, with its claims,
   * reused for at most a minute from then (the verified-token cache's own bound) and only while the
   * token has not expired. A keep-alive client sends the same header with every request, and
   * comparing it with the last one costs less than parsing it and looking its token up, which
   * hashes the whole token (2.5 % of a cached read's CPU at saturation in a profile; 1–2 % more
   * reads per second in an interleaved A/B). Only the signature check is spared, as with that
   * cache: the token's expiry and the login's checks run for every request.
   */
  private readonly lastVerified = new WeakMap<object, { auth: string; claims: VerifiedClaims; until: number }>();

  /** The claims of the token this connection presented last, if the request presents the same header and nothing else. */
  private sameTokenAsBefore(request: AuthedRequest): VerifiedClaims | undefined {
    const last = this.lastVerified.get(request.socket);
    if (last === undefined || last.auth !== request.headers.authorization || request.headers['x-api-key'] !== undefined) return undefined;
    return last.until > Date.now() && unexpired(last.claims) ? last.claims : undefined;
  }

  /** Whether the request presents any credentials at all (else a fast path has nothing to read state for). */
  presentsCredentials(request: AuthedRequest): boolean {
    return request.headers.authorization !== undefined || request.headers['x-api-key'] !== undefined;
  }

  private preAuthenticated(request: AuthedRequest, principal: Principal): Principal {
    request.rateLimited = true;
    request.preAuthenticated = { principal };
    return principal;
  }

  /** Records a refusal for canActivate to throw (after counting the attempt if it was not counted). */
  private async refusedBeforeNest(request: AuthedRequest, err: unknown): Promise<undefined> {
    const error = await this.failedAttempt(request, err);
    request.preAuthenticated = { error: error instanceof Error ? error : new Error(String(error)) };
    return undefined;
  }

  /** A failed attempt counts against the IP unless already counted; returns what to throw (a 429 from that count wins). */
  private failedAttempt(request: AuthedRequest, err: unknown): Promise<unknown> {
    if (request.rateLimited) return Promise.resolve(err);
    return this.limiter.hit(this.limiter.ip(request.ip)).then(
      () => err,
      (limited: unknown) => limited,
    );
  }

  /** Authenticates and counts the request against the IP and principal limits (one Redis round trip). */
  private async authenticate(context: ExecutionContext, request: AuthedRequest, ipLimit: Limit): Promise<Principal> {
    const { auth, bearer, apiKey } = credentials(request);
    if (apiKey !== undefined) {
      const principal = await this.apiKeys.authenticate(apiKey, [ipLimit]);
      request.rateLimited = true;
      return principal;
    }
    if (auth !== undefined && bearer === undefined) {
      throw new DomainError(ErrorCode.UNAUTHENTICATED, 'Authorization header must use the Bearer scheme');
    }
    const known = bearer ? this.jwt.verifiedClaims(bearer) : undefined;
    // check() decides from this instance's caches when it can (AuthStateService.load).
    if (known) return this.jwt.check(request, known);
    await super.canActivate(context);
    return (request as AuthedRequest & { user: Principal }).user;
  }

  /** passport reports failures through here: turn them into clear 401s. */
  override handleRequest<T>(err: unknown, user: T, info: unknown): T {
    if (err) throw err instanceof DomainError ? err : describeJwtFailure(err);
    if (!user) throw describeJwtFailure(info);
    return user;
  }
}
