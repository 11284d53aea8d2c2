import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { APP_CONFIG, REDIS, type AppConfig } from '#common';
import { User } from '../users/user.entity';
import type { Role } from './rbac';

/** What authentication needs to know about a user on every request, cached in Redis. */
export interface UserState {
  id: string;
  username: string;
  email: string;
  role: Role;
  disabled: boolean;
  token_version: number;
  created_at: string;
  updated_at: string;
}

export function toUserState(u: User): UserState {
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    role: u.role,
    disabled: u.disabled,
    token_version: u.tokenVersion,
    created_at: u.createdAt.toISOString(),
    updated_at: u.updatedAt.toISOString(),
  };
}

/**
 * The hot path of authentication: one Redis round trip answers "does this user still exist, with
 * which role, is the account enabled, and is this login still alive". Every write to a user
 * invalidates the cache entry before it returns, so a role change, disable or logout takes
 * effect on the very next request.
 */
@Injectable()
export class AuthStateService {
  static readonly USER_TTL_S = 300;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  private userKey(id: string) {
    return `auth:user:${id}`;
  }
  private sessionKey(sid: string) {
    return `auth:revoked-session:${sid}`;
  }

  /** The user's state and whether the session `sid` has been revoked (one MGET). */
  async load(userId: string, sid?: string): Promise<{ user?: UserState; sessionRevoked: boolean }> {
    const [cached, revoked] = sid
      ? await this.redis.mget(this.userKey(userId), this.sessionKey(sid))
      : [await this.redis.get(this.userKey(userId)), null];
    const user = cached ? (JSON.parse(cached) as UserState) : await this.refresh(userId);
    return { user, sessionRevoked: revoked !== null };
  }

  async refresh(userId: string): Promise<UserState | undefined> {
    const entity = await this.dataSource.getRepository(User).findOneBy({ id: userId });
    if (!entity) return undefined;
    const state = toUserState(entity);
    await this.redis.set(this.userKey(userId), JSON.stringify(state), 'EX', AuthStateService.USER_TTL_S);
    return state;
  }

  async invalidateUser(userId: string): Promise<void> {
    await this.redis.del(this.userKey(userId));
  }

  /** Marks a login as revoked for as long as any access token of it could still be valid. */
  async revokeSessions(sids: string[]): Promise<void> {
    if (!sids.length) return;
    const pipe = this.redis.pipeline();
    for (const sid of sids) pipe.set(this.sessionKey(sid), '1', 'EX', this.config.auth.accessTokenTtlS + 5);
    await pipe.exec();
  }
}
