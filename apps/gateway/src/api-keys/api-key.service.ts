import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { DataSource, IsNull } from 'typeorm';
import { ErrorCode } from '#contracts';
import { DomainError, JsonLogger, LocalCache, REDIS } from '#common';
import { AuditService } from '../audit/audit.service';
import { AuthStateService, type CacheFill } from '../auth/auth-state.service';
import type { Principal } from '../auth/principal';
import { excessScopes, type Scope } from '../auth/rbac';
import { newApiKey, parseApiKey, sha256Hex } from '../auth/secrets';
import { RateLimiterService, type Limit } from '../http/rate-limiter.service';
import { ApiKey } from './api-key.entity';

interface CachedKey {
  id: string;
  user_id: string;
  scopes: Scope[];
  expires_at: string | null;
  revoked: boolean;
}

export interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

function view(k: ApiKey): ApiKeyView {
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    scopes: k.scopes,
    created_at: k.createdAt.toISOString(),
    expires_at: k.expiresAt?.toISOString() ?? null,
    last_used_at: k.lastUsedAt?.toISOString() ?? null,
    revoked_at: k.revokedAt?.toISOString() ?? null,
  };
}

const INVALID_KEY = 'API key is invalid, expired or revoked';

/**
 * API keys: random, prefixed, shown once, stored as SHA-256, scoped, revocable. Validation is
 * served from a Redis cache that revocation clears before it returns; last use is recorded at most
 * once a minute per key so the hot path does not write to MySQL.
 */
@Injectable()
export class ApiKeyService {
  static readonly CACHE_TTL_S = 300;
  static readonly LAST_USED_RESOLUTION_S = 60;
  /** Keys by hash; cleared on revocation broadcasts (see AuthStateService). */
  private readonly local = new LocalCache<CachedKey>(5000, 50_000);

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(AuthStateService) private readonly authState: AuthStateService,
    @Inject(RateLimiterService) private readonly limiter: RateLimiterService,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(JsonLogger) private readonly logger: JsonLogger,
  ) {
    authState.onInvalidation((i) => {
      if (i.kind !== 'api-key') return;
      if (i.id === '*') this.local.clear();
      else this.local.delete(i.id);
    });
  }

  async create(
    owner: Principal,
    input: { name: string; scopes: Scope[]; expires_in_days?: number },
  ): Promise<ApiKeyView & { key: string }> {
    const excess = excessScopes(owner.role, input.scopes);
    if (excess.length) {
      throw new DomainError(ErrorCode.FORBIDDEN, `Scope(s) ${excess.join(', ')} exceed what role '${owner.role}' may grant`, {
        field: 'scopes',
        not_allowed: excess,
      });
    }
    const { key, prefix } = newApiKey();
    const now = new Date();
    const entity: ApiKey = {
      id: randomUUID(),
      userId: owner.userId,
      name: input.name,
      prefix,
      keyHash: sha256Hex(key),
      scopes: [...new Set(input.scopes)],
      createdAt: now,
      expiresAt: input.expires_in_days ? new Date(now.getTime() + input.expires_in_days * 86_400_000) : null,
      lastUsedAt: null,
      revokedAt: null,
    };
    await this.dataSource.transaction(async (m) => {
      await m.insert(ApiKey, entity);
      await this.audit.record(
        {
          actor: owner,
          action: 'api_key.created',
          entityType: 'api_key',
          entityId: entity.id,
          details: { name: entity.name, scopes: entity.scopes },
        },
        m,
      );
    });
    return { ...view(entity), key };
  }

  async list(owner: Principal): Promise<ApiKeyView[]> {
    const keys = await this.dataSource.getRepository(ApiKey).find({ where: { userId: owner.userId }, order: { createdAt: 'DESC' } });
    return keys.map(view);
  }

  /** Revokes a key of the caller's (admins: anyone's). Unknown and foreign keys are both 404. */
  async revoke(actor: Principal, keyId: string): Promise<void> {
    const repo = this.dataSource.getRepository(ApiKey);
    const key = await repo.findOneBy({ id: keyId });
    if (!key || (key.userId !== actor.userId && actor.role !== 'admin')) throw DomainError.notFound('API key', keyId);
    if (!key.revokedAt) {
      await this.dataSource.transaction(async (m) => {
        await m.update(ApiKey, { id: keyId, revokedAt: IsNull() }, { revokedAt: new Date() });
        await this.audit.record(
          { actor, action: 'api_key.revoked', entityType: 'api_key', entityId: keyId, details: { owner_id: key.userId } },
          m,
        );
      });
    }
    await this.authState.broadcast({ kind: 'api-key', id: key.keyHash }, [this.cacheKey(key.keyHash)]);
  }

  /**
   * Resolves a presented key; `limits` (plus the key's own limit) are counted in the same round
   * trip as the owner lookup. `synced`: the local caches were synced for this request already
   * (AuthStateService.synced); otherwise that happens first, so a revocation that returned on any
   * instance before the request was made is applied to it.
   */
  async authenticate(presented: string, limits: Limit[] = [], synced = false): Promise<Principal> {
    if (!parseApiKey(presented)) throw new DomainError(ErrorCode.INVALID_TOKEN, 'API key is malformed (expected mcp_<prefix>_<secret>)');
    if (!synced) await this.authState.synced();
    const hash = sha256Hex(presented);
    let key = this.local.get(hash);
    if (!key) {
      const fill = this.authState.capture();
      const cached = await this.redis.get(this.cacheKey(hash));
      key = cached ? (JSON.parse(cached) as CachedKey) : await this.loadAndCache(hash, fill);
      // Not stored when a revocation was applied while it was being read.
      if (key && this.authState.isCurrent(fill)) this.local.set(hash, key);
    }
    if (!key || key.revoked || (key.expires_at && Date.parse(key.expires_at) <= Date.now())) {
      throw new DomainError(ErrorCode.INVALID_TOKEN, INVALID_KEY);
    }
    const { user } = await this.authState.load(key.user_id, undefined, [...limits, this.limiter.principal(`key:${key.id}`)], true);
    if (!user || user.disabled) throw new DomainError(ErrorCode.INVALID_TOKEN, INVALID_KEY);
    this.touch(key.id);
    return { userId: user.id, username: user.username, role: user.role, via: 'api_key', scopes: key.scopes, apiKeyId: key.id, user };
  }

  private cacheKey(hash: string) {
    return `auth:apikey:${hash}`;
  }

  private async loadAndCache(hash: string, fill: CacheFill): Promise<CachedKey | undefined> {
    const k = await this.dataSource.getRepository(ApiKey).findOneBy({ keyHash: hash });
    if (!k) return undefined;
    const cached: CachedKey = {
      id: k.id,
      user_id: k.userId,
      scopes: k.scopes,
      expires_at: k.expiresAt?.toISOString() ?? null,
      revoked: !!k.revokedAt,
    };
    await this.authState.storeIfCurrent(fill, this.cacheKey(hash), JSON.stringify(cached), ApiKeyService.CACHE_TTL_S);
    return cached;
  }

  /** Records last use, at most once per minute per key, without delaying the request. */
  private touch(id: string): void {
    void (async () => {
      const first = await this.redis.set(`auth:apikey-used:${id}`, '1', 'EX', ApiKeyService.LAST_USED_RESOLUTION_S, 'NX');
      if (first) await this.dataSource.getRepository(ApiKey).update({ id }, { lastUsedAt: new Date() });
    })().catch((err: unknown) =>
      this.logger.warn({ msg: 'could not record API key use', api_key_id: id, err: String(err) }, 'ApiKeyService'),
    );
  }
}
