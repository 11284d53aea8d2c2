import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { createServer } from 'node:http';
import {
  ConfigError,
  httpRequestDuration,
  httpRequestsTotal,
  initMetrics,
  JsonLogger,
  loadConfig,
  PLATFORM_VERSION,
  requestContext,
  sanitizeRequestId,
  type AppConfig,
} from '#common';
import { GatewayModule } from './gateway.module';
import { API_HELMET_OPTIONS, DOCS_HELMET_OPTIONS, securityHeaders } from './http/security-headers';

const REQUEST_ID = Symbol('requestId');
type TaggedRequest = import('node:http').IncomingMessage & { [REQUEST_ID]?: string };

function readConfig(): AppConfig {
  try {
    const config = loadConfig();
    if (!config.auth.jwtSecret)
      throw new ConfigError('Invalid configuration:\n  - JWT_SECRET: required by the gateway (at least 32 characters)');
    return config;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`[gateway] ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

export async function createGateway(config: AppConfig, logger: JsonLogger): Promise<NestFastifyApplication> {
  initMetrics('gateway');
  const adapter = new FastifyAdapter({
    bodyLimit: config.http.bodyLimitBytes,
    trustProxy: config.http.trustProxy,
    // Each request runs inside its own async context from the first byte, so every log line —
    // guards, handlers, RPC calls, filters — carries its request id.
    serverFactory: (handler: (req: TaggedRequest, res: import('node:http').ServerResponse) => void) =>
      createServer((req: TaggedRequest, res) => {
        const requestId = sanitizeRequestId(req.headers['x-request-id']);
        req[REQUEST_ID] = requestId;
        requestContext.run({ requestId }, () => handler(req, res));
      }),
    genReqId: (req: TaggedRequest) => req[REQUEST_ID] ?? sanitizeRequestId(undefined),
    logger: false,
  });
  const app = await NestFactory.create<NestFastifyApplication>(GatewayModule.forRoot(config, logger), adapter, { logger });
  const fastify = app.getHttpAdapter().getInstance();
  // API answers are per-caller: no shared cache may keep them.
  const apiHeaders = { ...securityHeaders(API_HELMET_OPTIONS), 'cache-control': 'no-store' };
  const docsHeaders = securityHeaders(DOCS_HELMET_OPTIONS);
  fastify.addHook('onRequest', async (request, reply) => {
    void reply.headers(request.url.startsWith('/api/docs') ? docsHeaders : apiHeaders).header('x-request-id', request.id);
  });
  fastify.addHook('onResponse', async (request, reply) => {
    const labels = { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) };
    httpRequestsTotal.inc(labels);
    httpRequestDuration.observe(labels, reply.elapsedTime / 1000);
  });
  app.enableCors({ origin: config.http.corsOrigins.length ? config.http.corsOrigins : false, credentials: true });
  app.enableShutdownHooks();

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
  SwaggerModule.setup('api/docs', app, document, { jsonDocumentUrl: 'api/docs-json' });
  return app;
}

async function main(): Promise<void> {
  const config = readConfig();
  const logger = new JsonLogger('gateway', config.logLevel);
  if (config.env === 'production' && /insecure|change-me/.test(config.auth.jwtSecret ?? '')) {
    logger.warn({ msg: 'JWT_SECRET is a development default: set a random secret before exposing this gateway' }, 'Bootstrap');
  }
  const app = await createGateway(config, logger);
  await app.listen(config.http.port, config.http.host);
  logger.log({ msg: 'gateway is listening', url: await app.getUrl(), docs: '/api/docs' }, 'Bootstrap');
}

void main().catch((err: unknown) => {
  process.stderr.write(`[gateway] failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
