import { type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { ErrorCode } from '#contracts';
import { DomainError } from '#common';
import { ApiKeyService } from '../api-keys/api-key.service';
import { RateLimiterService } from '../http/rate-limiter.service';
import { describeJwtFailure } from './jwt.strategy';
import { IS_PUBLIC, JWT_ONLY, REQUIRED_PERMISSION, type AuthedRequest, type Principal } from './principal';
import { hasPermission, type Permission } from './rbac';
import { looksLikeApiKey } from './secrets';

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
    try {
      principal = await this.authenticate(context, request);
    } catch (err) {
      await this.limiter.hit(ipLimit); // failed attempts count against the IP (and may turn into 429)
      throw err;
    }
    request.principal = principal;
    await this.limiter.hit(ipLimit, this.limiter.principal(principal.apiKeyId ? `key:${principal.apiKeyId}` : `user:${principal.userId}`));

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

  private async authenticate(context: ExecutionContext, request: AuthedRequest): Promise<Principal> {
    const headerKey = request.headers['x-api-key'];
    const auth = request.headers.authorization;
    const bearer = typeof auth === 'string' && /^bearer /i.test(auth) ? auth.slice(7).trim() : undefined;
    if (typeof headerKey === 'string') return this.apiKeys.authenticate(headerKey.trim());
    if (bearer && looksLikeApiKey(bearer)) return this.apiKeys.authenticate(bearer);
    if (auth !== undefined && bearer === undefined) {
      throw new DomainError(ErrorCode.UNAUTHENTICATED, 'Authorization header must use the Bearer scheme');
    }
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
