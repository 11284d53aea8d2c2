import { Inject, Injectable, Optional, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { Gauge } from 'prom-client';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  APP_CONFIG,
  BoundCounter,
  coalesced,
  coherenceChannels,
  JsonLogger,
  metricsRegistry,
  REDIS,
  REGISTRY_CACHE_GENERATION_KEY,
  reportRedisErrors,
  type AppConfig,
} from '#common';

/** Bumped (in the same script as the broadcast) by every change to authentication state; see AuthStateService. */
export const AUTH_EPOCH_KEY = 'auth:epoch';
/** Gateways holding a coherence lease, scored by when it expires (Redis clock, ms). */
export const COHERENCE_HOLDERS_KEY = 'coherence:holders';
/** What each holder last acknowledged having applied ("<generation> <epoch>"), so a barrier knows it without having heard it. */
export const COHERENCE_APPLIED_KEY = 'coherence:applied';

/** The shared state every request's local caches are checked against, as Redis had it after the request arrived. */
export interface TurnSnapshot {
  /** The registry cache generation (RegistryCacheService). */
  registryGeneration: string;
  /** How many authentication changes were broadcast so far (AuthStateService). */
  authEpoch: number;
}

const reads = new BoundCounter({
  // The name predates the auth epoch, which is read with the generation since.
  name: 'registry_cache_generation_reads_total',
  help: 'Reads of the cache generation (with the auth epoch) from Redis; cache hits per read show how many requests shared one',
  registers: [metricsRegistry],
}).bind({});
const barrierWaits = new BoundCounter({
  name: 'gateway_coherence_barrier_waits_total',
  help: 'Other gateways a change waited for before it was answered, by outcome (acked, or expired: its lease ran out first)',
  labelNames: ['outcome'] as const,
  registers: [metricsRegistry],
});
const ACKED = barrierWaits.bind({ outcome: 'acked' });
const EXPIRED = barrierWaits.bind({ outcome: 'expired' });
const skippedBarriers = new BoundCounter({
  name: 'gateway_coherence_barriers_skipped_total',
  help: 'Changes answered without a coherence barrier because no other gateway held a lease (see TurnStateService.barrier)',
  registers: [metricsRegistry],
}).bind({});
/** Started instances of this process (one in a gateway; tests run several). */
const running = new Set<TurnStateService>();
new Gauge({
  name: 'gateway_coherence_leases',
  help: 'Coherence leases this process holds (1: answering from its own state; 0: reading Redis per event-loop turn)',
  registers: [metricsRegistry],
  collect() {
    this.set([...running].filter((t) => t.leased()).length);
  },
});

// Registers (or renews) a lease and reads the state it covers, in one step: a change made after it
// either is read here or finds this holder registered (and waits for it, see BARRIER). Expired
// holders are forgotten.
const LEASE = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, holder in ipairs(gone) do redis.call('HDEL', KEYS[4], holder) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return {redis.call('GET', KEYS[2]) or '0', redis.call('GET', KEYS[3]) or '0', redis.call('ZCARD', KEYS[1])}`;

// The state after a change, the Redis clock, and every live lease: holder, expiry, what it applied.
const BARRIER = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf', 'WITHSCORES')
local holders = {}
for i = 1, #live, 2 do
  holders[#holders + 1] = live[i]
  holders[#holders + 1] = live[i + 1]
  holders[#holders + 1] = redis.call('HGET', KEYS[4], live[i]) or ''
end
return {redis.call('GET', KEYS[2]) or '0', redis.call('GET', KEYS[3]) or '0', now, holders}`;

// An acknowledgement: recorded (for barriers to come) and published (for barriers waiting now).
const ACK = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
redis.call('PUBLISH', ARGV[3], ARGV[1] .. ' ' .. ARGV[2])`;

type CoherenceCommands = {
  coherenceLease(
    holders: string,
    gen: string,
    epoch: string,
    applied: string,
    holder: string,
    ttlMs: number,
  ): Promise<[string, string, number]>;
  coherenceBarrier(holders: string, gen: string, epoch: string, applied: string): Promise<[string, string, number, string[]]>;
  coherenceAck(holders: string, applied: string, holder: string, state: string, channel: string): Promise<null>;
};

interface Waiter {
  holder: string;
  gen: number;
  epoch: number;
  done: () => void;
}

/**
 * The state that decides whether this gateway's local caches may answer — the registry cache
 * generation and the auth epoch — as of a moment after the request arrived, so a request sees
 * every change that returned to any client, on any gateway instance, before it was made.
 *
 * Two ways to know it:
 * - a Redis read per event-loop turn, shared by the turn's requests (sent after all of them
 *   arrived). Under paced traffic every request is alone in its turn, and the read was a quarter
 *   of a cached read's CPU here (12.5 of 54 µs, most of it the write to Redis) and a round trip of
 *   its latency;
 * - a coherence lease: while it holds one, this instance answers from the state it has applied
 *   itself — the lease's own read, then every change announced on Redis pub/sub (generation
 *   bumps, auth broadcasts), acknowledged to the other instances. A change made through a gateway
 *   is answered only after every other lease holder acknowledged it, or its lease ran out (see
 *   barrier), so the guarantee is the same. Leases are renewed every second, each renewal
 *   reading the state again, and end locally before Redis's copy expires; a lost pub/sub
 *   connection ends the lease at once, and reads go back to Redis per turn.
 * Changes not made through a gateway request (an event's bump, a watched config file) reach lease
 * holders as soon as their announcement does; no client waits on those.
 *
 * A gateway alone (its last renewal read found no other holder) answers changes without a
 * barrier: there is nobody to wait for, and the barrier was a Redis script and two wake-ups per
 * change (8–11 % of the services' CPU per write at 300–500 writes/s, measured). That is sound
 * because a gateway that joins answers from its lease only from a renewal read sent JOIN_WAIT_MS
 * after it registered, and a lone holder skips barriers only until ALONE_MS (shorter) after the
 * renewal read that found it alone: every change answered without a barrier was bumped before
 * that read of the joiner's. A lease that lapsed locally counts as a new join. The lone holder's
 * own next read goes to Redis once after a skipped barrier (its copy of the announcement may still
 * be on its way).
 */
@Injectable()
export class TurnStateService implements OnModuleInit, OnApplicationShutdown {
  static readonly LEASE_TTL_MS = 3000;
  /** A lease ends locally this long before Redis's copy could expire (clock rates, delays). */
  static readonly LEASE_MARGIN_MS = 500;
  static readonly RENEW_MS = 1000;
  /** Waiting for another holder's acknowledgement past its lease's expiry, for clock differences. */
  static readonly EXPIRY_SLACK_MS = 50;
  /** How long after a renewal read that found no other holder this one may skip barriers (more than RENEW_MS). */
  static readonly ALONE_MS = 1300;
  /** A joining holder answers from its lease only from a renewal read sent this long after it registered (more than ALONE_MS, for clock rates). */
  static readonly JOIN_WAIT_MS = 1500;
  readonly holderId = randomUUID();
  private snapshot?: TurnSnapshot;
  private leaseUntil = 0;
  private started = false;
  private stopped = false;
  private subscriber?: Redis;
  private timer?: NodeJS.Timeout;
  /** What must be connected and subscribed for a lease: the notices here, auth broadcasts (AuthStateService). */
  private readonly sources = new Map<string, boolean>([['coherence', false]]);
  /** Bumped when a lease is dropped: a renewal sent before does not bring it back. */
  private leaseGeneration = 0;
  private readonly acked = new Map<string, { gen: number; epoch: number }>();
  private waiters: Waiter[] = [];
  private ackScheduled = false;
  /**
   * Whether other gateways held leases at the last renewal. Alone, nobody waits for this one's
   * acknowledgements, and each would cost a script and wake-ups per change (at 500 writes/s,
   * every write). A gateway that joins is acknowledged from this one's next renewal on: its
   * changes wait up to a renewal period for that (see barrier).
   */
  private othersHold = false;
  /** When this continuous lease was registered (the reply to its first renewal). */
  private joinedAt = 0;
  /** Whether a renewal read sent JOIN_WAIT_MS after joining was applied: the lease may answer. */
  private answering = false;
  private joinTimer?: NodeJS.Timeout;
  /** Barriers may be skipped until then (see the class comment). */
  private aloneUntil = 0;
  /** Barriers skipped so far, and how many of them a Redis read sent after them has caught up with. */
  private skipped = 0;
  private settled = 0;

  /**
   * The state as of now or later: this instance's own under a lease, else one Redis read for the
   * turn — also the first read after a skipped barrier, which brings the lease up to date.
   */
  readonly read = (): Promise<TurnSnapshot> => (this.leased() && this.settled === this.skipped ? this.held() : this.readRedis());

  /**
   * The held state once the turn's I/O callbacks have run, shared by the turn's requests. Answering
   * each request at once, inside its socket's read callback, cost more CPU than answering them all
   * together after the turn (measured in an interleaved A/B: 97 against 74 µs per cached read at
   * 10,000/s and 73 against 48 µs at saturation; with the answers after the turn 71 against 84 µs
   * and 48 against 50 µs), much of it in the writes of the answers.
   */
  private readonly held = coalesced(async (): Promise<TurnSnapshot> => this.snapshot ?? (await this.readRedis()), 'io');

  private readonly readRedis = coalesced(async (): Promise<TurnSnapshot> => {
    reads.inc();
    const skipped = this.skipped;
    const baseline = this.snapshot;
    const [generation, epoch] = await this.redis.mget(REGISTRY_CACHE_GENERATION_KEY, AUTH_EPOCH_KEY);
    const read = { registryGeneration: generation ?? '0', authEpoch: Number(epoch ?? 0) };
    if (skipped !== this.settled && this.advance(Number(read.registryGeneration), read.authEpoch, baseline)) {
      this.settled = Math.max(this.settled, skipped);
    }
    return read;
  }, 'io');

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Optional() @Inject(APP_CONFIG) private readonly config?: AppConfig,
    @Optional() @Inject(JsonLogger) private readonly logger?: JsonLogger,
  ) {
    if (!('coherenceLease' in redis)) redis.defineCommand('coherenceLease', { numberOfKeys: 4, lua: LEASE });
    if (!('coherenceBarrier' in redis)) redis.defineCommand('coherenceBarrier', { numberOfKeys: 4, lua: BARRIER });
    if (!('coherenceAck' in redis)) redis.defineCommand('coherenceAck', { numberOfKeys: 2, lua: ACK });
  }

  /** Whether this instance answers from its own state now (a lease it holds). */
  leased(): boolean {
    return this.snapshot !== undefined && this.answering && performance.now() < this.leaseUntil;
  }

  async onModuleInit(): Promise<void> {
    if (!this.config || !this.logger) return; // without them (tests of other parts): a Redis read per turn
    const channels = coherenceChannels(this.config.namespace);
    this.started = true;
    running.add(this);
    const subscriber = reportRedisErrors(this.redis.duplicate(), this.logger, 'coherence');
    this.subscriber = subscriber;
    subscriber.on('message', (channel: string, raw: string) => {
      if (channel === channels.notices) this.onNotice(raw);
      else this.onAck(raw);
    });
    await this.follow('coherence', subscriber, [channels.notices, channels.acks]);
    this.timer = setInterval(() => this.renew(), TurnStateService.RENEW_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    running.delete(this);
    if (this.timer) clearInterval(this.timer);
    if (this.joinTimer) clearTimeout(this.joinTimer);
    this.drop();
    await this.subscriber?.quit().catch(() => this.subscriber?.disconnect());
  }

  /** Another connection a lease depends on (AuthStateService's subscriber): none is held until it is up. */
  registerSource(name: string): void {
    this.sources.set(name, false);
  }

  /**
   * Makes a registered source of `subscriber`, subscribed to `channels`: down when its connection
   * is lost (what was announced meanwhile is lost, so the lease ends), up again once subscribed
   * after a reconnect (`onReconnect` runs first), and up once subscribed now.
   */
  async follow(name: string, subscriber: Redis, channels: string[], onReconnect?: () => void): Promise<void> {
    for (const event of ['close', 'end', 'reconnecting']) subscriber.on(event, () => this.sourceDown(name));
    subscriber.on('ready', () => {
      onReconnect?.();
      subscriber.subscribe(...channels).then(
        () => this.sourceUp(name),
        () => undefined,
      );
    });
    await subscriber.subscribe(...channels);
    this.sourceUp(name);
  }

  /** A source is connected and subscribed: a lease can be taken (with a fresh read). */
  private sourceUp(name: string): void {
    this.sources.set(name, true);
    this.renew();
  }

  /** A source lost its connection: what it would have announced may be lost, so the lease ends now. */
  private sourceDown(name: string): void {
    if (this.sources.get(name) === false) return;
    this.sources.set(name, false);
    // Acknowledgements heard before may be from before Redis lost its state: barriers read them again.
    if (name === 'coherence') this.acked.clear();
    this.drop();
  }

  private drop(): void {
    const held = this.snapshot !== undefined;
    this.leaseGeneration++;
    this.snapshot = undefined;
    this.leaseUntil = 0;
    this.answering = false;
    // Best effort: others stop waiting for this instance at once (else when its lease expires).
    if (held)
      this.redis
        .multi()
        .zrem(COHERENCE_HOLDERS_KEY, this.holderId)
        .hdel(COHERENCE_APPLIED_KEY, this.holderId)
        .exec()
        .catch(() => undefined);
  }

  /** Takes or renews the lease, reading the state again. */
  private renew(): void {
    if (!this.started || this.stopped || [...this.sources.values()].some((up) => !up)) return;
    const lease = this.leaseGeneration;
    const sentAt = performance.now();
    const baseline = this.snapshot;
    (this.redis as unknown as CoherenceCommands)
      .coherenceLease(
        COHERENCE_HOLDERS_KEY,
        REGISTRY_CACHE_GENERATION_KEY,
        AUTH_EPOCH_KEY,
        COHERENCE_APPLIED_KEY,
        this.holderId,
        TurnStateService.LEASE_TTL_MS,
      )
      .then(
        ([gen, epoch, holders]) => {
          if (lease !== this.leaseGeneration || this.stopped) return; // dropped meanwhile
          const now = performance.now();
          this.othersHold = holders > 1;
          this.aloneUntil = holders > 1 ? 0 : sentAt + TurnStateService.ALONE_MS;
          // Held without a gap since it registered: its entry in Redis never lapsed either.
          const continuous = this.snapshot !== undefined && now < this.leaseUntil;
          if (this.snapshot === undefined) this.set({ registryGeneration: gen, authEpoch: Number(epoch) });
          else if (!this.advance(Number(gen), Number(epoch), baseline)) return;
          else this.scheduleAck(); // what a renewal read is acknowledged too
          this.leaseUntil = sentAt + TurnStateService.LEASE_TTL_MS - TurnStateService.LEASE_MARGIN_MS;
          if (!continuous) this.join(now);
          else if (!this.answering && sentAt >= this.joinedAt + TurnStateService.JOIN_WAIT_MS) this.answering = true;
        },
        (err: unknown) => this.logger?.debug({ msg: 'coherence lease renewal failed', err: String(err) }, 'TurnStateService'),
      );
  }

  /** A new lease (or one that lapsed): it answers once a renewal read sent JOIN_WAIT_MS from now was applied. */
  private join(now: number): void {
    this.joinedAt = now;
    this.answering = false;
    if (this.joinTimer) clearTimeout(this.joinTimer);
    // A few ms late on purpose: a timer may fire a fraction of a millisecond early by this clock.
    this.joinTimer = setTimeout(() => this.renew(), TurnStateService.JOIN_WAIT_MS + 5);
    this.joinTimer.unref();
  }

  private set(snapshot: TurnSnapshot): void {
    this.snapshot = snapshot;
    this.scheduleAck();
  }

  /**
   * Moves the held state forward to what Redis (or an announcement) says. Below `baseline` — the
   * state held when that was read (announcements arrive in the order they were made) — means Redis
   * lost its state: the lease starts over from a fresh read. Below the held state but not the
   * baseline is an answer overtaken by announcements: nothing to do. Returns whether the lease is
   * still held.
   */
  private advance(gen: number | undefined, epoch: number | undefined, baseline: TurnSnapshot | undefined): boolean {
    const held = this.snapshot;
    if (!held) return false;
    if (
      baseline &&
      ((gen !== undefined && gen < Number(baseline.registryGeneration)) || (epoch !== undefined && epoch < baseline.authEpoch))
    ) {
      this.drop();
      this.renew();
      return false;
    }
    const heldGen = Number(held.registryGeneration);
    if ((gen ?? heldGen) > heldGen || (epoch ?? held.authEpoch) > held.authEpoch) {
      this.set({
        registryGeneration: String(Math.max(gen ?? heldGen, heldGen)),
        authEpoch: Math.max(epoch ?? held.authEpoch, held.authEpoch),
      });
    }
    return true;
  }

  private onNotice(raw: string): void {
    const [kind, value] = raw.split(' ');
    if (kind === 'g' && /^\d+$/.test(value ?? '')) this.advance(Number(value), undefined, this.snapshot);
  }

  /**
   * An auth broadcast numbered `epoch` was applied to this instance's caches (AuthStateService).
   * Only ever forward: this instance's own broadcast may be noted after later ones it received
   * (and an epoch that went back is EpochTracker's to handle).
   */
  noteEpoch(epoch: number): void {
    this.advance(undefined, epoch, undefined);
  }

  /** Tells the other instances what this one has applied (once per turn, however many changes it applied). */
  private scheduleAck(): void {
    if (this.ackScheduled || !this.config || !this.othersHold) return;
    this.ackScheduled = true;
    setImmediate(() => {
      this.ackScheduled = false;
      const held = this.snapshot;
      if (!held || !this.config) return;
      (this.redis as unknown as CoherenceCommands)
        .coherenceAck(
          COHERENCE_HOLDERS_KEY,
          COHERENCE_APPLIED_KEY,
          this.holderId,
          `${held.registryGeneration} ${held.authEpoch}`,
          coherenceChannels(this.config.namespace).acks,
        )
        .catch(() => undefined);
    });
  }

  private onAck(raw: string): void {
    const [holder, genText, epochText] = raw.split(' ');
    if (!holder || holder === this.holderId) return;
    const gen = Number(genText);
    const epoch = Number(epochText);
    if (!Number.isFinite(gen) || !Number.isFinite(epoch)) return;
    // The latest acknowledgement counts (a holder that started over may acknowledge lower values).
    this.acked.set(holder, { gen, epoch });
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.holder === holder && gen >= w.gen && epoch >= w.epoch) w.done();
      else still.push(w);
    }
    this.waiters = still;
  }

  /**
   * Call after a change was committed (and its bump or broadcast made), before answering it: waits
   * until every other gateway holding a lease has acknowledged the state as of now — or its lease
   * has expired — so the next request anywhere sees the change. Without other holders (as of the last
   * renewal), nothing: see the class comment.
   * The changes answered in the same event-loop turn (a group of publishes, whose replies one
   * broker read delivered) share one barrier: it is made after every one of them asked, so the
   * state it reads and waits for is as of after each of their changes.
   */
  barrier(): Promise<void> {
    if (!this.started) return Promise.resolve();
    if (performance.now() < this.aloneUntil) {
      // No other holder to wait for (see the class comment); this instance's next read goes to Redis.
      this.skipped++;
      skippedBarriers.inc();
      return Promise.resolve();
    }
    return this.sharedBarrier();
  }

  private readonly sharedBarrier = coalesced(() => this.barrierNow(), 'io');

  private async barrierNow(): Promise<void> {
    const baseline = this.snapshot;
    const [gen, epochText, now, holders] = await (this.redis as unknown as CoherenceCommands).coherenceBarrier(
      COHERENCE_HOLDERS_KEY,
      REGISTRY_CACHE_GENERATION_KEY,
      AUTH_EPOCH_KEY,
      COHERENCE_APPLIED_KEY,
    );
    const target = { gen: Number(gen), epoch: Number(epochText) };
    this.advance(target.gen, target.epoch, baseline);
    const live = new Set<string>();
    const waits: Promise<void>[] = [];
    for (let i = 0; i + 2 < holders.length; i += 3) {
      const holder = holders[i];
      live.add(holder);
      if (holder === this.holderId) continue;
      const [appliedGen, appliedEpoch] = holders[i + 2].split(' ').map(Number);
      const heard = this.acked.get(holder);
      const done = (s?: { gen: number; epoch: number }) => s !== undefined && s.gen >= target.gen && s.epoch >= target.epoch;
      if (done(heard) || done(holders[i + 2] ? { gen: appliedGen, epoch: appliedEpoch } : undefined)) continue;
      const remaining = Number(holders[i + 1]) - Number(now) + TurnStateService.EXPIRY_SLACK_MS;
      waits.push(this.waitFor(holder, target, remaining));
    }
    for (const holder of this.acked.keys()) if (!live.has(holder)) this.acked.delete(holder);
    this.othersHold = [...live].some((holder) => holder !== this.holderId);
    if (this.othersHold) this.aloneUntil = 0;
    await Promise.all(waits);
  }

  private waitFor(holder: string, target: { gen: number; epoch: number }, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const waiter: Waiter = {
        holder,
        ...target,
        done: () => {
          clearTimeout(timer);
          ACKED.inc();
          resolve();
        },
      };
      const timer = setTimeout(
        () => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          EXPIRED.inc();
          resolve();
        },
        Math.max(0, ms),
      );
      this.waiters.push(waiter);
    });
  }
}
