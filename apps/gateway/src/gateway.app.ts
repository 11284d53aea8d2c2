import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  httpRequestDuration,
  httpRequestsTotal,
  initMetrics,
  type JsonLogger,
  PLATFORM_VERSION,
  requestContext,
  sanitizeRequestId,
  SeriesCache,
  type AppConfig,
  type CounterSeries,
  type HistogramSeries,
} from '#common';
import { GatewayAuthGuard } from './auth/auth.guard';
import { GatewayModule } from './gateway.module';
import { RegistryCacheService } from './registry/registry-cache.service';
import { attachFastToolRead } from './registry/tool-read.fast-path';
import { attachFastMe } from './auth/me.fast-path';
import { TurnStateService } from './http/turn-state.service';
import { streamingMultipart } from './http/multipart';
import { API_HELMET_OPTIONS, DOCS_HELMET_OPTIONS, securityHeaders } from './http/security-headers';
import { documentBodyErrors } from './http/openapi';

const REQUEST_ID = Symbol('requestId');
/** Methods that change nothing: answered without the coherence barrier. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
type TaggedRequest = IncomingMessage & { [REQUEST_ID]?: string };

/** Builds the gateway application (not listening yet): used by main.ts and by in-process tests. */
export async function createGateway(
  config: AppConfig,
  logger: JsonLogger,
  options: { serveDocs?: boolean } = {},
): Promise<NestFastifyApplication> {
  initMetrics('gateway');
  const adapter = new FastifyAdapter({
    bodyLimit: config.http.bodyLimitBytes,
    trustProxy: config.http.trustProxy,
    // Each request runs inside its own async context from the first byte, so every log line —
    // guards, handlers, RPC calls, filters — carries its request id.
    serverFactory: (handler: (req: TaggedRequest, res: ServerResponse) => void) =>
      createServer((req: TaggedRequest, res) => {
        const requestId = sanitizeRequestId(req.headers['x-request-id']);
        req[REQUEST_ID] = requestId;
        requestContext.run({ requestId }, () => handler(req, res));
      }),
    genReqId: (req: TaggedRequest) => req[REQUEST_ID] ?? sanitizeRequestId(undefined),
    logger: false,
  });
  // bodyParser: false: Nest would add a form (urlencoded) parser, and Fastify has a text/plain one
  // built in; the API takes JSON (and multipart uploads, registered below), so any other body is a
  // 415 that says to send application/json, not a form's fields read as if they were the JSON's.
  const app = await NestFactory.create<NestFastifyApplication>(GatewayModule.forRoot(config, logger), adapter, {
    logger,
    bodyParser: false,
  });
  const fastify = app.getHttpAdapter().getInstance();
  fastify.removeContentTypeParser('text/plain');
  // Many clients send `Content-Type: application/json` on every request, with a body or not (a
  // DELETE, `POST …/restore`). Fastify refuses such an empty body outright; here it is no body, so
  // a route that takes none works and one that needs one names what is missing (`body: …`).
  // Every other body goes to Fastify's own parser, with its prototype-poisoning checks.
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  app.useBodyParser<Server>('application/json', { bodyLimit: config.http.bodyLimitBytes }, (request, body, done) =>
    body.length === 0 ? done(null, undefined) : parseJson(request, body.toString(), done),
  );
  // Documents may be up to KNOWLEDGE_MAX_DOCUMENT_BYTES (JSON escaping adds a little): only their
  // routes get the larger body limit. Routes are registered at init, after this hook.
  const documentBodyLimit = Math.max(config.http.bodyLimitBytes, Math.ceil(config.knowledge.maxDocumentBytes * 1.2) + 65_536);
  fastify.addHook('onRoute', (route) => {
    if (route.url.startsWith('/api/v1/knowledge/documents')) route.bodyLimit = documentBodyLimit;
  });
  // The hottest reads are answered before Nest's pipeline when they can be (see http/fast-path.ts).
  attachFastToolRead(fastify, app.get(GatewayAuthGuard), app.get(TurnStateService), app.get(RegistryCacheService));
  attachFastMe(fastify, app.get(GatewayAuthGuard), app.get(TurnStateService));
  // Uploads stream through @fastify/multipart (stream mode only) with their own limits (one file, document size).
  await app.register(streamingMultipart, {
    limits: { fileSize: config.knowledge.maxDocumentBytes, files: 1, fields: 10, fieldSize: 65_536, parts: 12 },
  });
  // API answers are per-caller: no shared cache may keep them.
  const apiHeaders = { ...securityHeaders(API_HELMET_OPTIONS), 'cache-control': 'no-store' };
  const docsHeaders = securityHeaders(DOCS_HELMET_OPTIONS);
  // Callback-style hooks: an async hook costs a promise per request, and with request contexts
  // (AsyncLocalStorage) every promise runs the async hooks too.
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.headers(request.url.startsWith('/api/docs') ? docsHeaders : apiHeaders).header('x-request-id', request.id);
    done();
  });
  // Bound series per method × route × status (as bounded as the series themselves: route
  // templates, not URLs), so counting a request costs no label work.
  const series = new SeriesCache<{ count: CounterSeries; duration: HistogramSeries }>();
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const s = series.get(`${request.method} ${route} ${reply.statusCode}`, () => {
      const labels = { method: request.method, route, status: String(reply.statusCode) };
      return { count: httpRequestsTotal.bind(labels), duration: httpRequestDuration.bind(labels) };
    });
    s.count.inc();
    s.duration.observe(reply.elapsedTime / 1000);
    done();
  });
  // A change is answered once every other gateway holding a coherence lease has applied it (see
  // TurnStateService.barrier), so the client's next request sees it wherever it lands. If Redis
  // cannot be asked, the change is answered anyway: holders lose their leases with it.
  const turn = app.get(TurnStateService);
  fastify.addHook('onSend', (request, _reply, payload, done) => {
    if (SAFE_METHODS.has(request.method)) return done(null, payload);
    turn
      .barrier()
      .catch((err: unknown) => logger.warn({ msg: 'coherence barrier failed; answering the change anyway', err: String(err) }, 'Gateway'))
      .then(() => done(null, payload))
      // Whatever sending the answer throws is Fastify's to report; it must never become an unhandled rejection.
      .catch((err: unknown) => logger.error({ msg: 'sending an answer after the coherence barrier failed', err: String(err) }, 'Gateway'));
  });
  // Without allowed origins CORS stays off: @fastify/cors with `origin: false` adds no header, but
  // its hook would still run (and copy every response header) on each request.
  // A browser client may read the entity tag (for If-Match / If-None-Match), the request id (for
  // support), whether an answer is the replay of an earlier request with the same Idempotency-Key,
  // and how long to wait after a 429 or 503. Request headers it asks for in a preflight (If-Match,
  // Idempotency-Key) are allowed as asked.
  if (config.http.corsOrigins.length)
    app.enableCors({
      origin: config.http.corsOrigins,
      credentials: true,
      exposedHeaders: ['ETag', 'X-Request-Id', 'Idempotent-Replayed', 'Retry-After'],
    });
  app.enableShutdownHooks();

  // Swagger UI needs @fastify/static, which Jest's ESM loader cannot resolve through Nest's
  // loadPackage: in-process tests build the document without serving it.
  if (options.serveDocs !== false) {
    SwaggerModule.setup('api/docs', app, buildOpenApiDocument(app), { jsonDocumentUrl: 'api/docs-json' });
  }
  return app;
}

/** The OpenAPI document of every route, generated from the controllers and their zod schemas. */
export function buildOpenApiDocument(app: NestFastifyApplication) {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('MCP Platform API')
      .setDescription(
        'Register, understand and run Model Context Protocol tools. Errors: `{ error: { code, message, details?, request_id } }`.',
      )
      .setVersion(PLATFORM_VERSION)
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT or API key' }, 'bearer')
      .addApiKey({ type: 'apiKey', in: 'header', name: 'X-API-Key' }, 'api_key')
      .build(),
  );
  return documentBodyErrors(document);
}
