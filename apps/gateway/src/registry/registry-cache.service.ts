import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import { EventConsumer, RpcPattern, type Actor, type ListToolsQuery, type RpcResponse, type ToolView } from '#contracts';
import {
  BoundCounter,
  canSee,
  DomainError,
  etagOf,
  EventBus,
  isAdmin,
  JsonLogger,
  LocalCache,
  metricsRegistry,
  REDIS,
  REGISTRY_CACHE_GENERATION_KEY,
  registryListKey,
  registryToolKey,
  RpcClient,
} from '#common';
import { TurnStateService, type TurnSnapshot } from '../http/turn-state.service';

const cacheRequests = new BoundCounter({
  name: 'registry_cache_requests_total',
  help: 'Registry reads served by the gateway, by kind (detail, list) and result (hit, miss)',
  labelNames: ['kind', 'result'] as const,
  registers: [metricsRegistry],
});
const HIT_DETAIL = cacheRequests.bind({ kind: 'detail', result: 'hit' });
const MISS_DETAIL = cacheRequests.bind({ kind: 'detail', result: 'miss' });
const HIT_LIST = cacheRequests.bind({ kind: 'list', result: 'hit' });
const MISS_LIST = cacheRequests.bind({ kind: 'list', result: 'miss' });

// Reads the generation and the entry stored under it in one round trip.
const GET_CURRENT = `
local gen = redis.call('GET', KEYS[1]) or '0'
return {gen, redis.call('GET', ARGV[1] .. gen .. ARGV[2])}`;

type CacheCommand = { registryCacheGet(key: string, prefix: string, suffix: string): Promise<[string, string | null]> };

/** A tool detail entry as served: the view (for the visibility check), its JSON text and that text's entity tag. */
export interface CachedTool {
  gen: string;
  view: ToolView;
  body: string;
  etag: string;
}

/** A detail lookup: the entry (hit), or the generation to store a fetched entry under (miss). */
export type ToolLookup = { hit: CachedTool } | { miss: string };

/**
 * The registry's hot reads (tool detail, list pages) served from Redis at the gateway, so they do
 * not cross RabbitMQ. A hit is checked against the caller with the same visibility rules as the
 * registry's. Entries are keyed by the cache generation, which the registry bumps after every
 * committed write before answering it (and its outbox relay again before the write's event goes
 * out), so nothing cached before a write is served after it returned.
 */
@Injectable()
export class RegistryCacheService implements OnApplicationBootstrap {
  static readonly DETAIL_TTL_S = 300;
  static readonly LIST_TTL_S = 60;
  private readonly prefix: string;
  /**
   * Detail entries this process has parsed, with the generation they belong to: a hit whose
   * generation is still current skips transferring and parsing the entry. Redis is still asked
   * for the current generation on every read, so a write elsewhere is seen at once.
   */
  private readonly parsed = new LocalCache<CachedTool>(RegistryCacheService.DETAIL_TTL_S * 1000, 10_000);
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    /**
     * The current cache generation, read once for all the requests that arrived in the same
     * event-loop turn: the read is sent after every one of them arrived, so it sees every write
     * that returned before any of them was made — the same guarantee as a GET per request, at a
     * fraction of the cost under load (one Redis command per turn instead of one per request).
     */
    @Inject(TurnStateService) private readonly turn: TurnStateService,
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(EventBus) private readonly bus: EventBus,
    @Inject(JsonLogger) private readonly logger: JsonLogger,
  ) {
    if (!('registryCacheGet' in redis)) redis.defineCommand('registryCacheGet', { numberOfKeys: 1, lua: GET_CURRENT });
    // ioredis prefixes KEYS but not ARGV: build the entry keys with the namespace prefix ourselves.
    this.prefix = redis.options.keyPrefix ?? '';
  }

  /**
   * Earlier versions bumped the generation again on consuming tool.* events, from a durable queue
   * of their own; the registry's outbox relay does that now (see ToolsService). Left in place, the
   * queue would keep every tool event forever with nobody reading it, so it is deleted. Not
   * awaited: the gateway serves while RabbitMQ is unreachable, and the deletion runs once it is back.
   */
  onApplicationBootstrap(): void {
    this.bus
      .retire(EventConsumer.GATEWAY_REGISTRY_CACHE)
      .catch((err: unknown) =>
        this.logger.warn({ msg: 'could not delete the retired registry cache queue', err: String(err) }, 'RegistryCache'),
      );
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

  /**
   * The cached detail entry of a tool, if there is one for the current generation (a hit, counted
   * in the metrics), or the generation to store a fetched entry under (a miss). No visibility
   * check: callers decide with visible().
   */
  lookup(toolId: string): Promise<ToolLookup> {
    // Usually the generation has not moved since this process parsed the entry: one read of
    // short keys (shared by the requests of this turn). Entries under a generation are only ever
    // written from reads made after that generation was current, so reading the entry in a
    // second step is safe. An entry not parsed here is read with the generation (one script).
    if (!this.parsed.get(toolId)) return this.lookupEntry(toolId);
    return this.turn.read().then((snapshot) => this.lookupAt(toolId, snapshot));
  }

  /**
   * `lookup` with the turn state the caller read for this request (after it arrived): a hit on an
   * entry this process parsed under that generation is answered synchronously, without a promise.
   */
  lookupAt(toolId: string, snapshot: TurnSnapshot): ToolLookup | Promise<ToolLookup> {
    const held = this.parsed.get(toolId);
    if (!held || snapshot.registryGeneration !== held.gen) return this.lookupEntry(toolId);
    HIT_DETAIL.inc();
    return { hit: held };
  }

  /** The entry under the current generation, read with the generation in one round trip. */
  private async lookupEntry(toolId: string): Promise<ToolLookup> {
    const current = await this.current((g) => registryToolKey(g, toolId));
    if (!current.value) {
      MISS_DETAIL.inc();
      return { miss: current.gen };
    }
    HIT_DETAIL.inc();
    // Tagged once per entry and process, not per request.
    const hit = { gen: current.gen, view: JSON.parse(current.value) as ToolView, body: current.value, etag: etagOf(current.value) };
    this.parsed.set(toolId, hit);
    return { hit };
  }

  /** Whether the caller may see a cached tool (the registry's rule, canSee). */
  static visible(tool: ToolView, actor: Actor): boolean {
    return canSee({ ownerId: tool.owner_id, visibility: tool.visibility, deletedAt: tool.deleted_at }, actor);
  }

  private store(key: string, value: unknown, ttl: number): void {
    this.redis
      .set(key, JSON.stringify(value), 'EX', ttl)
      .catch((err: unknown) => this.logger.warn({ msg: 'registry cache write failed', err: String(err) }, 'RegistryCache'));
  }

  /** A tool as the caller may see it: cached, or fetched from the registry and cached. `prior`: a lookup already made for this request. */
  async tool(toolId: string, actor: Actor, prior?: ToolLookup): Promise<ToolView> {
    const found = prior ?? (await this.lookup(toolId));
    if ('hit' in found) {
      if (!RegistryCacheService.visible(found.hit.view, actor)) throw DomainError.notFound('Tool', toolId);
      return found.hit.view;
    }
    const tool = await this.rpc.send(RpcPattern.REGISTRY_TOOL_GET, { tool_id: toolId }, { actor });
    this.store(registryToolKey(found.miss, toolId), tool, RegistryCacheService.DETAIL_TTL_S);
    return tool;
  }

  /** List pages depend on who asks (admins see everything, others public + their own). */
  async list(asked: ListToolsQuery, actor: Actor): Promise<RpcResponse<typeof RpcPattern.REGISTRY_TOOL_LIST>> {
    const scope = isAdmin(actor) ? 'admin' : `user-${actor.user_id}`;
    // Admins share one cache scope: `owner=me` must become whose it is before it keys a page.
    const query = asked.owner === 'me' ? { ...asked, owner: actor.user_id } : asked;
    const hash = createHash('sha1')
      .update(JSON.stringify(Object.entries(query).sort()))
      .digest('hex');
    const { gen, value } = await this.current((g) => registryListKey(g, scope, hash));
    if (value) {
      HIT_LIST.inc();
      return JSON.parse(value) as RpcResponse<typeof RpcPattern.REGISTRY_TOOL_LIST>;
    }
    MISS_LIST.inc();
    const page = await this.rpc.send(RpcPattern.REGISTRY_TOOL_LIST, query, { actor });
    this.store(registryListKey(gen, scope, hash), page, RegistryCacheService.LIST_TTL_S);
    return page;
  }
}
