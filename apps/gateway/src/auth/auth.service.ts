import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource, IsNull, type EntityManager } from 'typeorm';
import { ErrorCode } from '#contracts';
import { APP_CONFIG, DomainError, type AppConfig } from '#common';
import { AuditService } from '../audit/audit.service';
import { User } from '../users/user.entity';
import { UsersService } from '../users/users.service';
import { AuthStateService, toUserState } from './auth-state.service';
import { LoginThrottleService } from './login-throttle.service';
import { PasswordService } from './password.service';
import type { Principal } from './principal';
import { RefreshToken } from './refresh-token.entity';
import { newRefreshToken, REFRESH_TOKEN_PREFIX, sha256Hex } from './secrets';
import { TokenService } from './token.service';

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: 'bearer';
  expires_in: number;
  refresh_expires_in: number;
}

const BAD_CREDENTIALS = 'Invalid username or password';

@Injectable()
export class AuthService {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(PasswordService) private readonly passwords: PasswordService,
    @Inject(TokenService) private readonly tokens: TokenService,
    @Inject(LoginThrottleService) private readonly throttle: LoginThrottleService,
    @Inject(AuthStateService) private readonly authState: AuthStateService,
    @Inject(UsersService) private readonly users: UsersService,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Username or email plus password. Unknown user and wrong password get the same answer after
   * the same amount of work; repeated failures lock the account name and the IP for a while.
   */
  async login(identifier: string, password: string, ip: string): Promise<TokenPair> {
    const account = identifier.toLowerCase();
    await this.throttle.assertAllowed(account, ip);
    const user = await this.dataSource
      .getRepository(User)
      .findOne({ where: account.includes('@') ? { email: account } : { username: account } });
    const ok = user ? await this.passwords.verify(user.passwordHash, password) : await this.passwords.verifyDummy(password);
    if (!user || !ok) {
      await this.throttle.recordFailure(account, ip);
      await this.audit.record({
        actor: { anonymous: true },
        action: 'auth.login_failed',
        entityType: 'user',
        entityId: user?.id ?? null,
        details: { account },
        ip,
      });
      throw new DomainError(ErrorCode.UNAUTHENTICATED, BAD_CREDENTIALS);
    }
    if (user.disabled) throw new DomainError(ErrorCode.FORBIDDEN, 'This account is disabled; ask an administrator');
    await this.throttle.recordSuccess(account);
    const familyId = randomUUID();
    return this.dataSource.transaction(async (m) => {
      const pair = await this.issuePair(m, user, familyId);
      await this.audit.record(
        {
          actor: { userId: user.id, username: user.username, role: user.role, via: 'jwt', user: toUserState(user) },
          action: 'auth.login',
          entityType: 'user',
          entityId: user.id,
          details: { session_id: familyId },
          ip,
        },
        m,
      );
      return pair;
    });
  }

  /**
   * Rotates a refresh token. A token that was already used or revoked is evidence of theft: the
   * whole family (that login's sessions) is revoked and the caller must log in again.
   */
  async refresh(presented: string, ip: string): Promise<TokenPair> {
    if (!presented.startsWith(REFRESH_TOKEN_PREFIX)) throw new DomainError(ErrorCode.INVALID_TOKEN, 'Refresh token is malformed');
    const hash = sha256Hex(presented);
    const outcome = await this.dataSource.transaction(async (m) => {
      const token = await m.getRepository(RefreshToken).findOne({ where: { tokenHash: hash }, lock: { mode: 'pessimistic_write' } });
      if (!token) return { error: new DomainError(ErrorCode.INVALID_TOKEN, 'Refresh token is not valid') };
      if (token.usedAt || token.revokedAt) {
        await m.update(
          RefreshToken,
          { familyId: token.familyId, revokedAt: IsNull() },
          { revokedAt: new Date(), revokedReason: 'reuse_detected' },
        );
        await this.audit.record(
          {
            actor: { anonymous: true },
            action: 'auth.refresh_token_reused',
            entityType: 'user',
            entityId: token.userId,
            details: { session_id: token.familyId },
            ip,
          },
          m,
        );
        return {
          revokeFamily: token.familyId,
          error: new DomainError(
            ErrorCode.TOKEN_REUSED,
            'Refresh token was already used; this login has been revoked for safety — log in again',
          ),
        };
      }
      if (token.expiresAt.getTime() <= Date.now())
        return { error: new DomainError(ErrorCode.TOKEN_EXPIRED, 'Refresh token has expired; log in again') };
      const user = await m.getRepository(User).findOneBy({ id: token.userId });
      if (!user || user.disabled) return { error: new DomainError(ErrorCode.INVALID_TOKEN, 'Refresh token is not valid') };
      await m.update(RefreshToken, { id: token.id }, { usedAt: new Date() });
      return { pair: await this.issuePair(m, user, token.familyId) };
    });
    // Revocation is committed before the error goes out (the transaction returned, not threw).
    if (outcome.revokeFamily) await this.authState.revokeSessions([outcome.revokeFamily]);
    if (outcome.error) throw outcome.error;
    return outcome.pair;
  }

  /** Ends the current login (its refresh tokens and, at once, its access tokens). */
  async logout(principal: Principal, refreshToken?: string): Promise<void> {
    const families = new Set<string>();
    if (principal.sessionId) families.add(principal.sessionId);
    if (refreshToken) {
      const t = await this.dataSource.getRepository(RefreshToken).findOneBy({ tokenHash: sha256Hex(refreshToken) });
      if (t && t.userId === principal.userId) families.add(t.familyId);
    }
    await this.dataSource.transaction(async (m) => {
      for (const familyId of families) {
        await m.update(
          RefreshToken,
          { familyId, userId: principal.userId, revokedAt: IsNull() },
          { revokedAt: new Date(), revokedReason: 'logout' },
        );
      }
      await this.audit.record(
        { actor: principal, action: 'auth.logout', entityType: 'user', entityId: principal.userId, details: { sessions: [...families] } },
        m,
      );
    });
    await this.authState.revokeSessions([...families]);
  }

  /** Changes the password and ends every session of the user, including the current one. */
  async changePassword(principal: Principal, current: string, next: string): Promise<void> {
    if (next.toLowerCase().includes(principal.username.toLowerCase())) {
      throw new DomainError(ErrorCode.VALIDATION_FAILED, 'Invalid body.new_password: must not contain the username', [
        { field: 'new_password', message: 'must not contain the username' },
      ]);
    }
    const user = await this.dataSource.getRepository(User).findOneBy({ id: principal.userId });
    if (!user || !(await this.passwords.verify(user.passwordHash, current))) {
      throw new DomainError(ErrorCode.UNAUTHENTICATED, 'Current password is wrong');
    }
    const hash = await this.passwords.hash(next);
    await this.dataSource.transaction(async (m) => {
      await m.update(User, { id: user.id }, { passwordHash: hash, tokenVersion: () => 'token_version + 1', updatedAt: new Date() });
      await this.users.revokeAllRefreshTokens(m, user.id, 'password_changed');
      await this.audit.record({ actor: principal, action: 'auth.password_changed', entityType: 'user', entityId: user.id }, m);
    });
    await this.authState.invalidateUser(user.id);
  }

  private async issuePair(m: EntityManager, user: User, familyId: string): Promise<TokenPair> {
    const refresh = newRefreshToken();
    const now = Date.now();
    await m.insert(RefreshToken, {
      id: randomUUID(),
      userId: user.id,
      familyId,
      tokenHash: sha256Hex(refresh),
      createdAt: new Date(now),
      expiresAt: new Date(now + this.config.auth.refreshTokenTtlS * 1000),
      usedAt: null,
      revokedAt: null,
      revokedReason: null,
    });
    return {
      access_token: this.tokens.signAccessToken({ sub: user.id, sid: familyId, ver: user.tokenVersion, role: user.role }),
      refresh_token: refresh,
      token_type: 'bearer',
      expires_in: this.config.auth.accessTokenTtlS,
      refresh_expires_in: this.config.auth.refreshTokenTtlS,
    };
  }
}
