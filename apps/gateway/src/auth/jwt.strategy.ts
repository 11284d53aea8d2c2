import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { ErrorCode } from '#contracts';
import { APP_CONFIG, DomainError, type AppConfig } from '#common';
import { AuthStateService } from './auth-state.service';
import type { Principal } from './principal';
import { ACCESS_TOKEN_TYPE, type AccessClaims } from './token.service';

/**
 * Verifies access tokens: HS256 only (so `alg: none` and algorithm-confusion tokens fail),
 * issuer, audience, expiry and token type; then checks that the user still exists, is enabled,
 * has not changed password since, and that the login was not logged out.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(AuthStateService) private readonly authState: AuthStateService,
  ) {
    super({ jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(), secretOrKey: config.auth.jwtSecret!, ...jwtVerifyOptions(config) });
  }

  async validate(claims: Partial<AccessClaims>): Promise<Principal> {
    if (claims.typ !== ACCESS_TOKEN_TYPE || typeof claims.sub !== 'string' || typeof claims.sid !== 'string') {
      throw new DomainError(ErrorCode.INVALID_TOKEN, 'Bearer token is not an access token');
    }
    const { user, sessionRevoked } = await this.authState.load(claims.sub, claims.sid);
    if (!user || user.disabled) throw new DomainError(ErrorCode.INVALID_TOKEN, 'The account of this token no longer exists or is disabled');
    if (sessionRevoked || user.token_version !== claims.ver) {
      throw new DomainError(ErrorCode.INVALID_TOKEN, 'This access token has been revoked; log in again');
    }
    return { userId: user.id, username: user.username, role: user.role, via: 'jwt', sessionId: claims.sid };
  }
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
