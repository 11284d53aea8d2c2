import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import { ErrorCode, type Actor, type EventMessage } from '#contracts';
import { APP_CONFIG, canRead, DomainError, EventBus, isAdmin, JsonLogger, LocalCache, metricsRegistry, type AppConfig } from '#common';
import { AuthStateService, type Invalidation } from '../auth/auth-state.service';
import { RegistryCacheService } from '../registry/registry-cache.service';

const streamsOpen = new Gauge({
  name: 'sse_streams',
  help: 'Live event streams (GET /events) open on this gateway',
  registers: [metricsRegistry],
});
const eventsSent = new Counter({
  name: 'sse_events_sent_total',
  help: 'Events written to live event streams (one per stream an event went to)',
  registers: [metricsRegistry],
});

/** The events a stream relays: every change to a tool (the registry's `tool.*`). */
export const LIVE_PATTERNS = ['tool.#'];

/** Who may look at everything: the tools of events are read as an admin, then filtered per stream. */
const RELAY_ACTOR: Actor = { user_id: 'live-events', role: 'admin', via: 'system' };

/** One client's stream, as the controller wires it to the socket. */
export interface LiveStream {
  /** Whose stream: what they may see is decided per event with their current role. */
  actor: Actor;
  /** The login or API key behind it (their revocation ends the stream). */
  sessionId?: string;
  apiKeyId?: string;
  /** Only these tools' events, when given. */
  toolIds?: ReadonlySet<string>;
  /** Writes one SSE frame (the controller drops a client that does not read). */
  write(frame: string): void;
  /** Sends a last `end` event saying why, and closes. */
  end(reason: string): void;
  /** Authenticates the caller again, as things stand now; ends the stream if they no longer may read. */
  recheck(): Promise<void>;
}

/** Who may see a tool: its owner and visibility. */
type Audience = { ownerId: string; visibility: string };

/**
 * An event as it went by, with who may see it: those who could see the tool as of the change,
 * and before it when the change moved that (made private, handed on), so that they hear their
 * view of it changed. Empty: the tool could not be read, so admins only.
 */
interface Relayed {
  id: string;
  toolId: string;
  frame: string;
  audiences: Audience[];
}

type ToolEventPayload = {
  tool_id?: unknown;
  owner_id?: unknown;
  visibility?: unknown;
  previous?: { owner_id: string; visibility: string };
};

/** How many of the last events' ids a gateway remembers to drop one that arrives again (LiveEventsService). */
const DEDUPE_WINDOW = 10_000;

/** The SSE frame of a named event with a JSON body (and an id, for events a client can resume after). */
export function sseFrame(event: string, data: unknown, id?: string): string {
  return `${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * Relays the registry's changes to the clients of this gateway (`GET /events`), each only the
 * events of tools they may see, in the order the registry committed them.
 *
 * The gateway listens only while it has streams (and `lingerMs` after the last closed): the
 * events of a busy registry cost nothing where nobody watches. It keeps the last `replayEvents`
 * it relayed, so a client that reconnects with `Last-Event-ID` gets what it missed; when that id
 * is not among them (the gateway was not listening, or restarted, or the feed from the broker
 * was interrupted), the client is told to `reset`: re-read what it shows. Streams are checked
 * again whenever their user, login or key changes (disabled, logged out, revoked, role changed).
 */
@Injectable()
export class LiveEventsService implements BeforeApplicationShutdown {
  private readonly streams = new Set<LiveStream>();
  private feed?: Promise<{ close(): Promise<void> }>;
  private lingering?: NodeJS.Timeout;
  private recent: Relayed[] = [];
  /**
   * Ids of the last DEDUPE_WINDOW events relayed (the oldest go first; no expiry): an event that
   * arrives again is dropped. The outbox relay publishes at least once — a registry that dies
   * between publishing a pass and marking it publishes the same events again, under the same ids,
   * once restarted — and an SSE client (a browser's EventSource) would show each such event twice.
   */
  private readonly relayedIds = new LocalCache<true>(Number.POSITIVE_INFINITY, DEDUPE_WINDOW);
  /** Events are looked up as they arrive and delivered one after the other, in arrival order. */
  private delivering: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    @Inject(EventBus) private readonly bus: EventBus,
    @Inject(RegistryCacheService) private readonly registry: RegistryCacheService,
    @Inject(AuthStateService) authState: AuthStateService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(JsonLogger) private readonly logger: JsonLogger,
  ) {
    authState.onInvalidation((i) => this.recheckAffected(i));
  }

  /**
   * Adds a stream once the feed is listening. With `lastEventId`: replays what came after it, or
   * answers `resumed: false` when it is not among the recent events (the caller sends `reset`).
   */
  async attach(stream: LiveStream, lastEventId?: string): Promise<{ resumed: boolean | null }> {
    this.refuseIfFull(stream);
    if (this.lingering) clearTimeout(this.lingering);
    this.lingering = undefined;
    this.feed ??= this.listen();
    try {
      await this.feed;
      // Again: others may have been let in while the feed was being set up.
      this.refuseIfFull(stream);
    } catch (err) {
      if (!(err instanceof DomainError)) this.feed = undefined;
      this.lingerIfIdle();
      throw err instanceof DomainError
        ? err
        : new DomainError(ErrorCode.SERVICE_UNAVAILABLE, `Cannot listen for events right now: ${String(err)}`);
    }
    // Added and replayed in one turn: an event delivered next comes after the replayed ones.
    this.streams.add(stream);
    streamsOpen.set(this.streams.size);
    if (lastEventId === undefined) return { resumed: null };
    const at = this.recent.findIndex((r) => r.id === lastEventId);
    if (at < 0) return { resumed: false };
    for (const r of this.recent.slice(at + 1)) this.deliver(stream, r);
    return { resumed: true };
  }

  private refuseIfFull(stream: LiveStream): void {
    if (this.stopped) throw new DomainError(ErrorCode.SERVICE_UNAVAILABLE, 'The gateway is shutting down; reconnect to another one');
    let own = 0;
    for (const s of this.streams) if (s.actor.user_id === stream.actor.user_id) own++;
    if (own >= this.config.sse.maxStreamsPerUser) {
      throw new DomainError(
        ErrorCode.RATE_LIMITED,
        `At most ${this.config.sse.maxStreamsPerUser} live event streams per user on one gateway; close one first`,
      );
    }
  }

  detach(stream: LiveStream): void {
    if (!this.streams.delete(stream)) return;
    streamsOpen.set(this.streams.size);
    this.lingerIfIdle();
  }

  /** With no stream left, the feed is closed after `lingerMs` unless one opens meanwhile. */
  private lingerIfIdle(): void {
    if (this.streams.size || this.lingering || !this.feed || this.stopped) return;
    this.lingering = setTimeout(() => {
      this.lingering = undefined;
      if (this.streams.size) return;
      const feed = this.feed;
      this.feed = undefined;
      this.recent = [];
      void feed
        ?.then((f) => f.close())
        .catch((err: unknown) => this.logger.warn({ msg: 'closing the live event feed failed', err: String(err) }, 'LiveEvents'));
    }, this.config.sse.lingerMs);
    this.lingering.unref();
  }

  private listen(): Promise<{ close(): Promise<void> }> {
    return this.bus.subscribeLive(
      LIVE_PATTERNS,
      (message) => this.arrived(message),
      (first) => {
        if (first) return;
        // Reconnected to the broker: whatever was published meanwhile never reached this gateway.
        this.recent = [];
        for (const s of this.streams) s.write(sseFrame('reset', { reason: 'the event feed was interrupted; re-read what you show' }));
        this.logger.warn({ msg: 'live event feed reconnected; streams told to reset', streams: this.streams.size }, 'LiveEvents');
      },
    );
  }

  private arrived(message: EventMessage): void {
    const payload = message.payload as ToolEventPayload;
    const toolId = payload.tool_id;
    if (typeof toolId !== 'string') return;
    if (this.relayedIds.get(message.id)) return;
    this.relayedIds.set(message.id, true);
    const audiences = this.audiences(toolId, payload);
    this.delivering = this.delivering.then(async () => {
      const relayed: Relayed = {
        id: message.id,
        toolId,
        audiences: await audiences,
        frame: sseFrame(
          message.key,
          { id: message.id, key: message.key, occurred_at: message.occurred_at, payload: message.payload },
          message.id,
        ),
      };
      if (this.config.sse.replayEvents > 0) {
        this.recent.push(relayed);
        if (this.recent.length > this.config.sse.replayEvents) this.recent.shift();
      }
      for (const s of this.streams) this.deliver(s, relayed);
    });
  }

  /** Who may see the event: as the event says, or (an event from before they said it) the tool as it is now. */
  private async audiences(toolId: string, payload: ToolEventPayload): Promise<Audience[]> {
    if (typeof payload.owner_id === 'string' && typeof payload.visibility === 'string') {
      const now = { ownerId: payload.owner_id, visibility: payload.visibility };
      const before = payload.previous && { ownerId: payload.previous.owner_id, visibility: payload.previous.visibility };
      return before ? [now, before] : [now];
    }
    try {
      // The registry bumped the cache generation before publishing: this is the tool after the change.
      const t = await this.registry.tool(toolId, RELAY_ACTOR);
      return [{ ownerId: t.owner_id, visibility: t.visibility }];
    } catch (err) {
      this.logger.warn(
        { msg: 'tool of an event could not be read; relayed to admins only', tool_id: toolId, err: String(err) },
        'LiveEvents',
      );
      return [];
    }
  }

  private deliver(stream: LiveStream, r: Relayed): void {
    if (stream.toolIds && !stream.toolIds.has(r.toolId)) return;
    // Whoever may read the tool (its owner also once it is deleted, to hear of that); admins everything.
    if (!isAdmin(stream.actor) && !r.audiences.some((a) => canRead(a, stream.actor))) return;
    stream.write(r.frame);
    eventsSent.inc();
  }

  private recheckAffected(i: Invalidation): void {
    for (const s of this.streams) {
      const affected =
        (i.kind === 'user' && i.id === s.actor.user_id) ||
        (i.kind === 'sessions' && s.sessionId !== undefined && i.ids.includes(s.sessionId)) ||
        // '*': this gateway missed invalidations (its subscription was interrupted): check everyone.
        // A key's invalidation names its hash, which a stream does not keep: every key stream checks
        // again (revocations are rare, and a check is a cached lookup).
        (i.kind === 'api-key' && (i.id === '*' || s.apiKeyId !== undefined));
      if (affected) void s.recheck();
    }
  }

  /** Open streams would keep the server from closing: each is ended, saying why, so its client reconnects elsewhere. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.lingering) clearTimeout(this.lingering);
    for (const s of [...this.streams]) s.end('the gateway is shutting down; reconnect');
    this.streams.clear();
    streamsOpen.set(0);
    const feed = this.feed;
    this.feed = undefined;
    await feed?.then((f) => f.close()).catch(() => undefined);
  }
}
