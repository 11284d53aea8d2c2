import { Inject, Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { createSecretKey, randomUUID, type KeyObject } from 'node:crypto';
import { APP_CONFIG, type AppConfig } from '#common';
import type { Role } from './rbac';

export const ACCESS_TOKEN_TYPE = 'access';

export interface AccessClaims {
  sub: string;
  typ: typeof ACCESS_TOKEN_TYPE;
  /** The login (refresh-token family) this token belongs to. */
  sid: string;
  /** The user's token version when issued; a password change or disable bumps it. */
  ver: number;
  role: Role;
}

/** Mints short-lived HS256 access tokens with issuer, audience and type set (all checked on use). */
@Injectable()
export class TokenService {
  private readonly key: KeyObject;

  constructor(
    @Inject(JwtService) private readonly jwt: JwtService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.key = createSecretKey(Buffer.from(config.auth.jwtSecret!, 'utf8'));
  }

  signAccessToken(claims: Omit<AccessClaims, 'typ'>): string {
    return this.jwt.sign(
      { ...claims, typ: ACCESS_TOKEN_TYPE },
      {
        algorithm: 'HS256',
        issuer: this.config.auth.issuer,
        audience: this.config.auth.audience,
        expiresIn: this.config.auth.accessTokenTtlS,
        jwtid: randomUUID(),
        privateKey: this.key,
      },
    );
  }
}
