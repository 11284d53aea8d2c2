import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { ErrorCode } from '#contracts';
import { APP_CONFIG, DomainError, JsonLogger, type AppConfig } from '#common';
import { GatewayAuthGuard } from '../auth/auth.guard';
import { CurrentPrincipal, RequirePermission, toActor, type AuthedRequest, type Principal } from '../auth/principal';
import { hasPermission } from '../auth/rbac';
import { ApiAuth, ApiErrors } from '../http/openapi';
import { ValidQuery } from '../http/validation';
import { LiveEventsService, sseFrame, type LiveStream } from './live-events.service';

/** A client whose unread events pass this is dropped (it reconnects with Last-Event-ID and resumes). */
const MAX_UNREAD_BYTES = 1_048_576;
/** What an EventSource waits before reconnecting. */
const RETRY_MS = 3000;
const MAX_TOOL_IDS = 50;

const eventsQuery = z.strictObject({
  tool_id: z
    .string()
    .regex(/^[0-9a-fA-F-]{36}(,[0-9a-fA-F-]{36}){0,49}$/, `a tool id, or up to ${MAX_TOOL_IDS} separated by commas`)
    .optional()
    .describe("only these tools' events (comma-separated ids)"),
  last_event_id: z
    .string()
    .min(1)
    .max(100)
    .optional()
    .describe('resume after this event (the Last-Event-ID header does the same; for clients that cannot send headers)'),
});

/**
 * Live events (Server-Sent Events): every change to the tools the caller may see — created,
 * updated (also transferred), deprecated, deleted, restored, a version published, yanked or un-yanked,
 * latest pinned or unpinned — as it is committed, from whichever gateway the client reaches.
 */
@ApiTags('events')
@ApiAuth()
@Controller('events')
export class EventsController {
  constructor(
    @Inject(LiveEventsService) private readonly live: LiveEventsService,
    @Inject(GatewayAuthGuard) private readonly guard: GatewayAuthGuard,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(JsonLogger) private readonly logger: JsonLogger,
  ) {}

  @Get()
  @RequirePermission('tools.read')
  @ApiOperation({
    summary:
      'Stream the changes to the tools you can see (text/event-stream). Each event is named by its key (tool.created, tool.updated, tool.version.published, …) and has an id: reconnect with Last-Event-ID to get what you missed, or you are sent `reset` (re-read what you show). `ready` opens the stream, `: keep-alive` comments keep it open, `end` says why it closed (your token expired, your login ended, …)',
  })
  @ApiProduces('text/event-stream')
  @ApiResponse({ status: 200, description: 'An event stream' })
  @ApiErrors(400, 401, 403, 429, 503)
  async stream(
    @ValidQuery(eventsQuery) q: z.output<typeof eventsQuery>,
    @CurrentPrincipal() principal: Principal,
    @Req() request: AuthedRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const continuing = this.guard.continuing(request, principal);
    const header = request.headers['last-event-id'];
    const lastEventId = (typeof header === 'string' && header.length <= 100 ? header : undefined) ?? q.last_event_id;
    const res = reply.raw;
    // Frames written before the head (replayed while attaching) wait here.
    let queued: string[] | undefined = [];
    let open = true;
    const timers: NodeJS.Timeout[] = [];
    let refused: string | undefined;
    const close = (reason: string | undefined) => {
      if (!open) return;
      open = false;
      for (const t of timers) clearTimeout(t);
      this.live.detach(stream);
      // Not started yet: the answer becomes an error below.
      if (queued !== undefined) refused = reason;
      else if (reason !== undefined && !res.writableEnded) res.end(sseFrame('end', { reason }));
      else res.end();
    };
    const stream: LiveStream = {
      actor: toActor(principal),
      sessionId: principal.sessionId,
      apiKeyId: principal.apiKeyId,
      toolIds: q.tool_id ? new Set(q.tool_id.toLowerCase().split(',')) : undefined,
      write: (frame) => {
        if (!open) return;
        if (queued) return void queued.push(frame);
        res.write(frame);
        if (res.writableLength > MAX_UNREAD_BYTES) close('you are not reading the events fast enough; reconnect with Last-Event-ID');
      },
      end: (reason) => close(reason),
      recheck: async () => {
        try {
          const now = await continuing.recheck();
          if (!hasPermission(now.role, 'tools.read', now.scopes)) return close('you may no longer read tools');
          // A changed role changes what is visible from the next event on.
          stream.actor = toActor(now);
        } catch (err) {
          close(err instanceof DomainError ? err.message : 'your credentials could not be checked again; reconnect');
        }
      },
    };
    // Attached before anything is sent: a refusal (too many streams, no broker) is an ordinary error answer.
    const { resumed } = await this.live.attach(stream, lastEventId);
    if (!open) throw new DomainError(ErrorCode.INVALID_TOKEN, refused ?? 'your credentials could not be checked again');
    reply.hijack();
    res.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // Proxies (nginx) must pass each event on at once, not buffer the stream.
      'x-accel-buffering': 'no',
    });
    const ready = sseFrame('ready', { resumed, heartbeat_ms: this.config.sse.heartbeatMs });
    const reset =
      resumed === false ? sseFrame('reset', { reason: `event ${lastEventId} is no longer known here; re-read what you show` }) : '';
    res.write(`retry: ${RETRY_MS}\n\n${ready}${reset}${queued.join('')}`);
    queued = undefined;
    res.on('close', () => close(undefined));
    // A client gone while the stream was being set up: its close event has already passed.
    if (res.destroyed) close(undefined);
    const heartbeat = setInterval(() => open && res.write(': keep-alive\n\n'), this.config.sse.heartbeatMs);
    timers.push(heartbeat);
    if (continuing.expiresAt !== undefined) {
      // Past 2^31 - 1 ms a timer fires at once; a token lives minutes.
      const left = Math.min(continuing.expiresAt - Date.now(), 2 ** 31 - 1);
      timers.push(setTimeout(() => close('your access token expired; refresh it and reconnect with Last-Event-ID'), Math.max(0, left)));
    }
    this.logger.debug({ msg: 'event stream opened', user_id: principal.userId, resumed }, 'Events');
  }
}
