import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { APP_CONFIG, JsonLogger, LocalCache, REDIS, reportRedisErrors, type AppConfig } from '#common';
import { RateLimiterService, type Limit } from '../http/rate-limiter.service';
import { AUTH_EPOCH_KEY, TurnStateService } from '../http/turn-state.service';
import { User } from '../users/user.entity';
import type { Role } from './rbac';

/** What authentication needs to know about a user on every request. */
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

/** An invalidation broadcast to every gateway instance. */
export type Invalidation = { kind: 'user'; id: string } | { kind: 'sessions'; ids: string[] } | { kind: 'api-key'; id: string };

// Deletes the cache entries of what changed, numbers the broadcast (the auth epoch) and publishes
// it, in one step: a message is "<epoch> <json>". Atomic, so that a cache fill racing the change
// either lands before it (and is deleted here) or is refused by STORE_IF_CURRENT.
const BROADCAST = `
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
local n = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], n .. ' ' .. ARGV[2])
return n`;

// Fills a cache entry read from MySQL only if no broadcast happened since the epoch the reader
// saw before reading: an entry read before a change must never be stored after it.
const STORE_IF_CURRENT = `
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1`;

type AuthCommands = {
  authBroadcast(numKeys: number, epochKey: string, ...keysThenArgs: string[]): Promise<number>;
  authStoreIfCurrent(epochKey: string, key: string, epoch: string, value: string, ttlS: number): Promise<number>;
};

/** What a cache fill captured before it read the source: see AuthStateService.capture. */
export interface CacheFill {
  version: number;
  epoch?: number;
}

/** An invalidation message as published: "<epoch> <json>" (or bare JSON, from an instance without epochs). */
export function parseInvalidation(raw: string): { epoch?: number; invalidation: Invalidation } {
  const space = raw.indexOf(' ');
  const numbered = space > 0 && /^\d+$/.test(raw.slice(0, space));
  return {
    epoch: numbered ? Number(raw.slice(0, space)) : undefined,
    invalidation: JSON.parse(numbered ? raw.slice(space + 1) : raw) as Invalidation,
  };
}

/**
 * Which broadcasts this instance has applied, against the auth epoch it reads from Redis. Pub/sub
 * alone cannot promise that a change applies to the very next request on another instance: the
 * message and the request reach that instance on different connections, and it may read the
 * request first (seen as a rare flake of the two-instance e2e test, a revoked key accepted once).
 * So every request's use of the local caches waits for a read of the epoch sent after it arrived
 * (shared by the turn's requests, see TurnStateService): when the epoch moved by broadcasts not
 * applied yet, the local caches are dropped and the request goes to Redis, which already has the
 * change. Pure bookkeeping: `observe` says whether to drop.
 */
export class EpochTracker {
  private seen?: number;
  private readonly applied = new Set<number>();

  /** The epoch last read from Redis, if any. */
  get last(): number | undefined {
    return this.seen;
  }

  /** A broadcast numbered `epoch` was applied to the local caches. */
  markApplied(epoch: number): void {
    if (this.seen === undefined || epoch > this.seen) this.applied.add(epoch);
  }

  /**
   * The epoch Redis has now; true when the local caches must be dropped: a broadcast up to it was
   * not applied here (it is still on its way, or was lost), the epoch went back (Redis lost it),
   * or nothing was seen before.
   */
  observe(epoch: number): boolean {
    const seen = this.seen;
    if (epoch === seen) return false;
    let stale = seen === undefined || epoch < seen || epoch - seen > this.applied.size;
    for (let n = (seen ?? 0) + 1; !stale && n <= epoch; n++) stale = !this.applied.has(n);
    for (const n of this.applied) if (n <= epoch) this.applied.delete(n);
    if (epoch < (seen ?? 0)) this.applied.clear();
    this.seen = epoch;
    return stale;
  }
}

/**
 * The hot path of authentication: "does this user still exist, with which role, is the account
 * enabled, and is this login still alive". Answers come from a short-lived in-process cache, then
 * Redis, then MySQL. Every write that changes them (role change, disable, password change, logout,
 * API key revocation) clears the local entry before it returns and broadcasts the invalidation to
 * the other gateway instances over Redis pub/sub, so the change applies to the very next request.
 * The local TTL bounds staleness if a broadcast were missed; after a pub/sub reconnect the local
 * caches are dropped.
 */
@Injectable()
export class AuthStateService implements OnModuleInit, OnApplicationShutdown {
  static readonly USER_TTL_S = 300;
  static readonly LOCAL_TTL_MS = 5000;
  private readonly users = new LocalCache<UserState>(AuthStateService.LOCAL_TTL_MS, 50_000);
  /** Sessions (refresh-token families) recently confirmed as not revoked. */
  private readonly liveSessions = new LocalCache<true>(AuthStateService.LOCAL_TTL_MS, 100_000);
  private readonly listeners: ((i: Invalidation) => void)[] = [];
  private subscriber?: Redis;
  private readonly channel: string;
  private readonly epochs = new EpochTracker();
  /** Bumped by every change applied to the local caches: a fill that started before one is not stored. */
  private version = 0;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(TurnStateService) private readonly turn: TurnStateService,
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(RateLimiterService) private readonly limiter: RateLimiterService,
    @Inject(JsonLogger) private readonly logger: JsonLogger,
  ) {
    this.channel = `${config.namespace}:auth-invalidate`;
    if (!('authBroadcast' in redis)) redis.defineCommand('authBroadcast', { lua: BROADCAST });
    if (!('authStoreIfCurrent' in redis)) redis.defineCommand('authStoreIfCurrent', { numberOfKeys: 2, lua: STORE_IF_CURRENT });
    // A coherence lease answers from broadcasts this instance applied: none is held while they may be lost.
    turn.registerSource('auth');
  }

  async onModuleInit(): Promise<void> {
    this.subscriber = reportRedisErrors(this.redis.duplicate(), this.logger, 'auth-invalidations');
    this.subscriber.on('message', (_channel: string, raw: string) => {
      try {
        const { epoch, invalidation } = parseInvalidation(raw);
        this.apply(invalidation);
        if (epoch !== undefined) {
          this.epochs.markApplied(epoch);
          this.turn.noteEpoch(epoch);
        }
      } catch (err) {
        this.logger.warn({ msg: 'ignored malformed auth invalidation', err: String(err) }, 'AuthStateService');
      }
    });
    // Broadcasts sent while disconnected are lost: start from an empty local cache after a reconnect,
    // and hold no coherence lease until subscribed again.
    await this.turn.follow('auth', this.subscriber, [this.channel], () => this.clearLocal());
  }

  async onApplicationShutdown(): Promise<void> {
    await this.subscriber?.quit().catch(() => this.subscriber?.disconnect());
  }

  /** Other caches of authentication data (API keys) clear themselves on these broadcasts too. */
  onInvalidation(listener: (i: Invalidation) => void): void {
    this.listeners.push(listener);
  }

  private clearLocal(): void {
    this.version++;
    this.users.clear();
    this.liveSessions.clear();
    for (const l of this.listeners) l({ kind: 'api-key', id: '*' });
  }

  private apply(i: Invalidation): void {
    this.version++;
    if (i.kind === 'user') this.users.delete(i.id);
    else if (i.kind === 'sessions') for (const id of i.ids) this.liveSessions.delete(id);
    for (const l of this.listeners) l(i);
  }

  /**
   * Clears locally at once, then deletes the Redis cache entries `stale` and tells every other
   * instance (numbered by the auth epoch), atomically. Call after the change is committed.
   */
  async broadcast(i: Invalidation, stale: string[] = []): Promise<void> {
    this.apply(i);
    const redis = this.redis as unknown as AuthCommands;
    const epoch = await redis.authBroadcast(1 + stale.length, AUTH_EPOCH_KEY, ...stale, this.channel, JSON.stringify(i));
    this.epochs.markApplied(epoch);
    this.turn.noteEpoch(epoch);
  }

  /**
   * Call before reading authentication data from its source (Redis for the local caches, MySQL for
   * Redis's): what isCurrent/storeIfCurrent check, so that data read before a change is never
   * cached after it — the change's invalidation may be applied while the read is under way.
   */
  capture(): CacheFill {
    return { version: this.version, epoch: this.epochs.last };
  }

  /** Whether a fill captured then may be stored in the local caches: no change was applied since. */
  isCurrent(fill: CacheFill): boolean {
    return fill.version === this.version;
  }

  /** Stores a cache entry in Redis unless a change was broadcast since the fill was captured (then nothing is stored). */
  async storeIfCurrent(fill: CacheFill, key: string, value: string, ttlS: number): Promise<void> {
    if (fill.epoch === undefined) return;
    await (this.redis as unknown as AuthCommands).authStoreIfCurrent(AUTH_EPOCH_KEY, key, String(fill.epoch), value, ttlS);
  }

  /**
   * Brings the local caches up to date with Redis as of a read sent after the caller's request
   * arrived (shared with the other requests of the turn): after it, the local caches reflect
   * every change that returned before the request was made, on any instance.
   */
  synced(): Promise<void> {
    return this.turn.read().then((s) => this.observe(s.authEpoch));
  }

  /** Applies an auth epoch read for the current request (see synced). */
  observe(epoch: number): void {
    if (this.epochs.observe(epoch)) this.clearLocal();
  }

  private userKey(id: string) {
    return `auth:user:${id}`;
  }
  private sessionKey(sid: string) {
    return `auth:revoked-session:${sid}`;
  }

  /**
   * Counts the request against `limits` (429 when one is used up), then returns the user's state
   * and whether the session `sid` has been revoked. `synced`: the caller already synced for this
   * request (see synced()).
   */
  async load(userId: string, sid?: string, limits: Limit[] = [], synced = false): Promise<{ user?: UserState; sessionRevoked: boolean }> {
    if (!synced) await this.synced();
    const local = this.loadLocally(userId, sid, limits);
    if (local) return local;
    if (limits.length) await this.limiter.hit(...limits);
    let user = this.users.get(userId);
    const sessionKnownLive = !sid || this.liveSessions.get(sid) === true;
    if (user && sessionKnownLive) return { user, sessionRevoked: false };

    const fill = this.capture();
    const [cached, revoked] = await this.redis.mget(this.userKey(userId), sid ? this.sessionKey(sid) : this.userKey(userId));
    user = cached ? (JSON.parse(cached) as UserState) : await this.refresh(userId, fill);
    const sessionRevoked = !!sid && revoked !== null;
    if (this.isCurrent(fill)) {
      if (user) this.users.set(userId, user);
      if (sid && !sessionRevoked) this.liveSessions.set(sid, true);
    }
    return { user, sessionRevoked };
  }

  /**
   * `load` without a round trip — for a request this instance synced for (see synced) — when it knows the user and the session to be live and
   * holds rate-limit blocks with room for `limits` (the usual case): the same answer and the same
   * counting, synchronously. Undefined, having counted nothing, when anything needs Redis or MySQL.
   */
  loadLocally(userId: string, sid: string | undefined, limits: readonly Limit[]): { user: UserState; sessionRevoked: false } | undefined {
    const user = this.users.get(userId);
    if (!user || (sid && this.liveSessions.get(sid) !== true)) return undefined;
    if (limits.length && !this.limiter.hitLocally(limits)) return undefined;
    return { user, sessionRevoked: false };
  }

  /** The user's state from MySQL, cached in Redis unless it changed meanwhile (`fill`: captured before this read). */
  async refresh(userId: string, fill: CacheFill): Promise<UserState | undefined> {
    const entity = await this.dataSource.getRepository(User).findOneBy({ id: userId });
    if (!entity) return undefined;
    const state = toUserState(entity);
    await this.storeIfCurrent(fill, this.userKey(userId), JSON.stringify(state), AuthStateService.USER_TTL_S);
    return state;
  }

  /** After a committed change of the user (role, disabled, password): every instance reloads it. */
  async invalidateUser(userId: string): Promise<void> {
    await this.broadcast({ kind: 'user', id: userId }, [this.userKey(userId)]);
  }

  /** Marks logins as revoked for as long as any access token of them could still be valid. */
  async revokeSessions(sids: string[]): Promise<void> {
    if (!sids.length) return;
    const pipe = this.redis.pipeline();
    for (const sid of sids) pipe.set(this.sessionKey(sid), '1', 'EX', this.config.auth.accessTokenTtlS + 5);
    await pipe.exec();
    await this.broadcast({ kind: 'sessions', ids: sids });
  }
}
