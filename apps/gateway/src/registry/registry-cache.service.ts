import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import { Counter } from 'prom-client';
import { EventConsumer, EventKey, RpcPattern, type Actor, type ListToolsQuery, type RpcResponse, type ToolView } from '#contracts';
import {
  canRead,
  DomainError,
  EventBus,
  isAdmin,
  JsonLogger,
  metricsRegistry,
  REDIS,
  registryListKey,
  registryToolKey,
  REGISTRY_CACHE_GENERATION_KEY,
  RpcClient,
} from '#common';

const cacheRequests = new Counter({
  name: 'registry_cache_requests_total',
  help: 'Registry reads served by the gateway, by kind (detail, list) and result (hit, miss)',
  labelNames: ['kind', 'result'] as const,
  registers: [metricsRegistry],
});

// Reads the generation and the entry stored under it in one round trip.
const GET_CURRENT = `
local gen = redis.call('GET', KEYS[1]) or '0'
return {gen, redis.call('GET', ARGV[1] .. gen .. ARGV[2])}`;

type CacheCommand = { registryCacheGet(key: string, prefix: string, suffix: string): Promise<[string, string | null]> };

/**
 * The registry's hot reads (tool detail, list pages) served from Redis at the gateway, so they do
 * not cross RabbitMQ. A hit is checked against the caller with the same visibility rules as the
 * registry's. Entries are keyed by the cache generation, which the registry bumps after every
 * committed write before answering it (and which tool.* events bump again here), so nothing
 * cached before a write is served after it returned.
 */
@Injectable()
export class RegistryCacheService implements OnApplicationBootstrap {
  static readonly DETAIL_TTL_S = 300;
  static readonly LIST_TTL_S = 60;
  private readonly prefix: string;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(EventBus) private readonly bus: EventBus,
    @Inject(JsonLogger) private readonly logger: JsonLogger,
  ) {
    if (!('registryCacheGet' in redis)) redis.defineCommand('registryCacheGet', { numberOfKeys: 1, lua: GET_CURRENT });
    // ioredis prefixes KEYS but not ARGV: build the entry keys with the namespace prefix ourselves.
    this.prefix = redis.options.keyPrefix ?? '';
  }

  /** Not awaited: the gateway serves (and reports the broker down in /health) while RabbitMQ is unreachable; the consumer attaches once it is back. */
  onApplicationBootstrap(): void {
    const keys = [
      EventKey.TOOL_CREATED,
      EventKey.TOOL_UPDATED,
      EventKey.TOOL_DELETED,
      EventKey.TOOL_RESTORED,
      EventKey.TOOL_VERSION_PUBLISHED,
      EventKey.TOOL_VERSION_YANKED,
      EventKey.TOOL_LATEST_CHANGED,
    ];
    this.bus
      .subscribe(EventConsumer.GATEWAY_REGISTRY_CACHE, keys, async () => {
        await this.redis.incr(REGISTRY_CACHE_GENERATION_KEY);
      })
      .catch((err: unknown) => this.logger.error({ msg: 'registry cache consumer failed to start', err: String(err) }, 'RegistryCache'));
  }

  private async current(entryKey: (gen: string) => string): Promise<{ gen: string; value: string | null }> {
    const [before, after] = entryKey('\u0000').split('\u0000');
    const [gen, value] = await (this.redis as unknown as CacheCommand).registryCacheGet(
      REGISTRY_CACHE_GENERATION_KEY,
      this.prefix + before,
      after,
    );
    return { gen, value };
  }

  private store(key: string, value: unknown, ttl: number): void {
    this.redis
      .set(key, JSON.stringify(value), 'EX', ttl)
      .catch((err: unknown) => this.logger.warn({ msg: 'registry cache write failed', err: String(err) }, 'RegistryCache'));
  }

  async tool(toolId: string, actor: Actor): Promise<ToolView> {
    const { gen, value } = await this.current((g) => registryToolKey(g, toolId));
    if (value) {
      cacheRequests.inc({ kind: 'detail', result: 'hit' });
      const tool = JSON.parse(value) as ToolView;
      if (tool.deleted_at || !canRead({ ownerId: tool.owner_id, visibility: tool.visibility }, actor))
        throw DomainError.notFound('Tool', toolId);
      return tool;
    }
    cacheRequests.inc({ kind: 'detail', result: 'miss' });
    const tool = await this.rpc.send(RpcPattern.REGISTRY_TOOL_GET, { tool_id: toolId }, { actor });
    this.store(registryToolKey(gen, toolId), tool, RegistryCacheService.DETAIL_TTL_S);
    return tool;
  }

  /** List pages depend on who asks (admins see everything, others public + their own). */
  async list(query: ListToolsQuery, actor: Actor): Promise<RpcResponse<typeof RpcPattern.REGISTRY_TOOL_LIST>> {
    const scope = isAdmin(actor) ? 'admin' : `user-${actor.user_id}`;
    const hash = createHash('sha1')
      .update(JSON.stringify(Object.entries(query).sort()))
      .digest('hex');
    const { gen, value } = await this.current((g) => registryListKey(g, scope, hash));
    if (value) {
      cacheRequests.inc({ kind: 'list', result: 'hit' });
      return JSON.parse(value) as RpcResponse<typeof RpcPattern.REGISTRY_TOOL_LIST>;
    }
    cacheRequests.inc({ kind: 'list', result: 'miss' });
    const page = await this.rpc.send(RpcPattern.REGISTRY_TOOL_LIST, query, { actor });
    this.store(registryListKey(gen, scope, hash), page, RegistryCacheService.LIST_TTL_S);
    return page;
  }
}
