import { createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Actor } from '#contracts';
import type { UserState } from './auth-state.service';
import type { Permission, Role, Scope } from './rbac';

/** Who is calling, after authentication. */
export interface Principal {
  userId: string;
  username: string;
  role: Role;
  via: 'jwt' | 'api_key';
  /** For API keys: the key's scopes (they cap the role). */
  scopes?: Scope[];
  apiKeyId?: string;
  /** For JWTs: the login (refresh-token family) the access token belongs to. */
  sessionId?: string;
  /** The user's state as loaded while authenticating (saves a second lookup in handlers). */
  user: UserState;
}

/**
 * `rateLimited`: the request was already counted against its limits during authentication.
 * `preAuthenticated`: the outcome of authenticating before Nest's pipeline (GatewayAuthGuard.preAuthenticate).
 * `authSynced`: the local authentication caches were synced with Redis after this request arrived
 * (AuthStateService.synced), so they may answer for it.
 */
export type AuthedRequest = FastifyRequest & {
  principal?: Principal;
  rateLimited?: boolean;
  authSynced?: boolean;
  preAuthenticated?: { principal?: Principal; error?: Error };
};

export const IS_PUBLIC = 'auth:public';
export const REQUIRED_PERMISSION = 'auth:permission';
export const JWT_ONLY = 'auth:jwt-only';

/** No authentication required (login, register, health …). */
export const Public = () => SetMetadata(IS_PUBLIC, true);
/** The permission a route needs; every non-public route must declare one (checked at start-up). */
export const RequirePermission = (permission: Permission) => SetMetadata(REQUIRED_PERMISSION, permission);
/** Only an interactive login may call this route (e.g. minting API keys), not an API key. */
export const JwtOnly = () => SetMetadata(JWT_ONLY, true);

export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const principal = ctx.switchToHttp().getRequest<AuthedRequest>().principal;
  if (!principal) throw new Error('CurrentPrincipal used on a route without authentication');
  return principal;
});

export function toActor(p: Principal): Actor {
  return { user_id: p.userId, role: p.role, via: p.via, scopes: p.scopes };
}
