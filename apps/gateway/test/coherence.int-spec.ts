import type { Redis } from 'ioredis';
import { performance } from 'node:perf_hooks';
import {
  bumpRegistryGeneration,
  createRedis,
  defineRegistryBump,
  JsonLogger,
  metricsRegistry,
  REGISTRY_CACHE_GENERATION_KEY,
} from '#common';
import { isolate, until, type TestIsolation } from '#testing';
import { COHERENCE_HOLDERS_KEY, TurnStateService } from '../src/http/turn-state.service';

/** A gateway's TurnStateService on its own Redis connection, started as the gateway starts it. */
async function startInstance(iso: TestIsolation, connections: Redis[], instances: TurnStateService[]): Promise<TurnStateService> {
  const conn = createRedis(iso.config);
  connections.push(conn);
  const turn = new TurnStateService(conn, iso.config, new JsonLogger('test', 'warn'));
  await turn.onModuleInit();
  instances.push(turn);
  return turn;
}

const subscriberOf = (t: TurnStateService) => Reflect.get(t, 'subscriber') as Redis;

/**
 * Coherence leases of two gateway instances against the real Redis: while an instance holds one it
 * answers from the state it applied itself (no Redis read per turn), and a change made through
 * either instance is answered only once the other has applied it — or its lease ran out.
 */
describe('coherence leases (TurnStateService) across instances', () => {
  let iso: TestIsolation;
  let redis: Redis;
  const connections: Redis[] = [];
  const instances: TurnStateService[] = [];
  let a: TurnStateService;
  let b: TurnStateService;

  const instance = () => startInstance(iso, connections, instances);
  const metric = async (name: string, labels: Record<string, string> = {}) =>
    (await metricsRegistry.getSingleMetric(name)?.get())?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
      ?.value ?? 0;

  beforeAll(async () => {
    iso = isolate();
    redis = createRedis(iso.config);
    defineRegistryBump(redis); // as the registry's services do when they are constructed
    connections.push(redis);
    await redis.set(REGISTRY_CACHE_GENERATION_KEY, '10');
    a = await instance();
    b = await instance();
    await until(() => a.leased() && b.leased(), 'both instances answer from leases');
  });

  afterAll(async () => {
    for (const t of instances) await t.onApplicationShutdown();
    for (const c of connections) await c.quit();
    await iso.cleanup();
  });

  it('answers from the lease without reading Redis per turn', async () => {
    const before = await metric('registry_cache_generation_reads_total');
    for (let i = 0; i < 20; i++) {
      expect((await a.read()).registryGeneration).toBe(await redis.get(REGISTRY_CACHE_GENERATION_KEY));
      await new Promise((r) => setImmediate(r));
    }
    expect(await metric('registry_cache_generation_reads_total')).toBe(before);
  });

  it("answers a change only once the other holder applied it, and that holder's next read sees it", async () => {
    const gen = await bumpRegistryGeneration(redis, iso.config.namespace);
    await a.barrier();
    // (B's acknowledgement was heard, or already recorded in Redis when the barrier read it.)
    expect((await b.read()).registryGeneration).toBe(String(gen));
    expect((await a.read()).registryGeneration).toBe(String(gen));
  });

  it('shares one barrier among the changes answered in the same turn; a change answered later gets its own', async () => {
    // Each run of the barrier is one Redis script call (wrapping the script itself would break
    // ioredis's auto-pipelines, which copy the defined commands).
    const run = Reflect.get(a, 'barrierNow') as () => Promise<void>;
    let calls = 0;
    Reflect.set(a, 'barrierNow', () => {
      calls++;
      return run.call(a);
    });
    try {
      const gen = await bumpRegistryGeneration(redis, iso.config.namespace);
      await Promise.all([a.barrier(), a.barrier(), a.barrier()]);
      expect(calls).toBe(1);
      expect((await b.read()).registryGeneration).toBe(String(gen));
      const next = await bumpRegistryGeneration(redis, iso.config.namespace);
      await a.barrier();
      expect(calls).toBe(2);
      expect((await b.read()).registryGeneration).toBe(String(next));
    } finally {
      Reflect.deleteProperty(a, 'barrierNow');
    }
  });

  it("does not answer early when the other holder's announcement is held back: it waits for that holder's renewal", async () => {
    const acked = await metric('gateway_coherence_barrier_waits_total', { outcome: 'acked' });
    const held = subscriberOf(b).stream;
    held.pause(); // B's copy of the announcement waits in its socket
    try {
      const gen = await bumpRegistryGeneration(redis, iso.config.namespace);
      const started = performance.now();
      await a.barrier();
      // B's renewal (every second, a read of its own) brought it up to date and it acknowledged that.
      expect(performance.now() - started).toBeLessThan(TurnStateService.LEASE_TTL_MS);
      expect(await metric('gateway_coherence_barrier_waits_total', { outcome: 'acked' })).toBe(acked + 1);
      expect(b.leased()).toBe(true);
      expect((await b.read()).registryGeneration).toBe(String(gen));
    } finally {
      held.resume();
    }
  });

  it('waits for a holder that stopped answering only until its lease expires', async () => {
    const expired = await metric('gateway_coherence_barrier_waits_total', { outcome: 'expired' });
    const [seconds, micros] = await redis.time();
    const redisNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    await redis.zadd(COHERENCE_HOLDERS_KEY, redisNow + 400, 'gone-instance');
    await bumpRegistryGeneration(redis, iso.config.namespace);
    const started = performance.now();
    await a.barrier();
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(300);
    expect(waited).toBeLessThan(1500);
    expect(await metric('gateway_coherence_barrier_waits_total', { outcome: 'expired' })).toBe(expired + 1);
  });

  it('ends the lease when its announcements connection is lost, reads Redis meanwhile, and takes a new one once back', async () => {
    const reads = await metric('registry_cache_generation_reads_total');
    subscriberOf(b).disconnect(true); // drops the connection; ioredis reconnects
    await until(() => !b.leased(), 'B lost its lease', 1000);
    await bumpRegistryGeneration(redis, iso.config.namespace);
    expect((await b.read()).registryGeneration).toBe(await redis.get(REGISTRY_CACHE_GENERATION_KEY));
    expect(await metric('registry_cache_generation_reads_total')).toBeGreaterThan(reads);
    await until(() => b.leased(), 'B answers from a lease');
    expect((await b.read()).registryGeneration).toBe(await redis.get(REGISTRY_CACHE_GENERATION_KEY));
  });

  it('starts over when Redis lost the state (the generation went back)', async () => {
    await until(() => a.leased(), 'A answers from a lease');
    await redis.set(REGISTRY_CACHE_GENERATION_KEY, '3');
    const gen = await bumpRegistryGeneration(redis, iso.config.namespace); // 4, announced
    await until(() => a.leased() && a.read !== undefined, 'A answers from a lease');
    await until(() => b.leased(), 'B answers from a lease');
    await a.barrier();
    expect((await a.read()).registryGeneration).toBe(String(gen));
    expect((await b.read()).registryGeneration).toBe(String(gen));
  });
});

/**
 * A lone lease holder answers changes without a barrier (nobody to wait for); a gateway that joins
 * answers from its lease only once the lone one can no longer be skipping barriers unseen.
 */
describe('coherence leases (TurnStateService): a lone holder and a gateway joining it', () => {
  let iso: TestIsolation;
  let redis: Redis;
  const connections: Redis[] = [];
  const instances: TurnStateService[] = [];

  const instance = () => startInstance(iso, connections, instances);
  /** Counts the barriers an instance really makes (each one Redis script call). */
  const countBarriers = (t: TurnStateService) => {
    const run = Reflect.get(t, 'barrierNow') as () => Promise<void>;
    const counter = { calls: 0 };
    Reflect.set(t, 'barrierNow', () => {
      counter.calls++;
      return run.call(t);
    });
    return counter;
  };

  beforeAll(async () => {
    iso = isolate();
    redis = createRedis(iso.config);
    defineRegistryBump(redis);
    connections.push(redis);
    await redis.set(REGISTRY_CACHE_GENERATION_KEY, '100');
  });

  afterAll(async () => {
    for (const t of instances) await t.onApplicationShutdown();
    for (const c of connections) await c.quit();
    await iso.cleanup();
  });

  it('answers from its lease only JOIN_WAIT_MS after registering, and alone makes no barrier; its own next read still sees the change', async () => {
    const started = performance.now();
    const lone = await instance();
    await until(() => lone.leased(), 'the lone instance answers from its lease');
    expect(performance.now() - started).toBeGreaterThanOrEqual(TurnStateService.JOIN_WAIT_MS);
    const barriers = countBarriers(lone);
    const held = subscriberOf(lone).stream;
    held.pause(); // its copy of the announcement waits in its socket
    try {
      const gen = await bumpRegistryGeneration(redis, iso.config.namespace);
      await lone.barrier();
      expect(barriers.calls).toBe(0);
      // The lease has not heard of the change, yet the read after the answered change sees it.
      expect((await lone.read()).registryGeneration).toBe(String(gen));
    } finally {
      held.resume();
    }
  });

  it('a joining gateway reads Redis until the lone one has seen it, then both hold leases and barriers resume', async () => {
    const lone = instances[0];
    const barriers = countBarriers(lone);
    const joiner = await instance();
    await until(() => Reflect.get(joiner, 'snapshot') !== undefined, 'the joiner registered');
    expect(joiner.leased()).toBe(false);
    const held = subscriberOf(joiner).stream;
    held.pause();
    try {
      // The lone holder may still skip its barrier (its last renewal found it alone)…
      const gen = await bumpRegistryGeneration(redis, iso.config.namespace);
      await lone.barrier();
      // …so the joiner, whose copy of the announcement is held back, must not answer from its lease.
      expect((await joiner.read()).registryGeneration).toBe(String(gen));
    } finally {
      held.resume();
    }
    await until(() => joiner.leased() && lone.leased(), 'both answer from leases');
    const gen = await bumpRegistryGeneration(redis, iso.config.namespace);
    const before = barriers.calls;
    await lone.barrier();
    expect(barriers.calls).toBe(before + 1);
    expect((await joiner.read()).registryGeneration).toBe(String(gen));
  });
});
