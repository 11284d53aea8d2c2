import 'reflect-metadata';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { RouteOptions } from 'fastify';
import { Controller, Get } from '@nestjs/common';
import { JsonLogger, migrateDatabase } from '#common';
import { isolate, type TestIsolation } from '#testing';
import { routesWithoutPermission } from '../src/auth/route-permissions';
import { RequirePermission } from '../src/auth/principal';
import { gatewayDbOptions } from '../src/database/gateway-data-source';
import { buildOpenApiDocument, createGateway } from '../src/gateway.app';
import { GATEWAY_CONTROLLERS } from '../src/gateway.module';

/** The gateway built in-process against the real stores: every route is authorized and documented. */
describe('gateway routes', () => {
  let iso: TestIsolation;
  let app: NestFastifyApplication;
  const routes: { method: string; url: string }[] = [];

  beforeAll(async () => {
    iso = isolate();
    await migrateDatabase(gatewayDbOptions(iso.config), iso.config);
    app = await createGateway(iso.config, new JsonLogger('gateway', 'error', () => undefined), { serveDocs: false });
    app
      .getHttpAdapter()
      .getInstance()
      .addHook('onRoute', (r: RouteOptions) => {
        for (const method of [r.method].flat()) routes.push({ method: method.toLowerCase(), url: r.url });
      });
    await app.init();
  }, 30_000);

  afterAll(async () => {
    await app?.close();
    await iso?.cleanup();
  });

  it('declares authorization on every route (and would refuse to start otherwise)', () => {
    expect(routesWithoutPermission(GATEWAY_CONTROLLERS)).toEqual([]);
    @Controller('x')
    class Forgetful {
      @Get('open')
      open() {
        return 1;
      }
      @Get('closed')
      @RequirePermission('tools.read')
      closed() {
        return 2;
      }
    }
    expect(routesWithoutPermission([Forgetful])).toEqual(['Forgetful.open']);
  });

  it('documents every API route in OpenAPI, with its method and path parameters', async () => {
    const doc = buildOpenApiDocument(app) as unknown as { paths: Record<string, Record<string, unknown>> };
    const apiRoutes = routes.filter((r) => r.method !== 'head');
    expect(apiRoutes.length).toBeGreaterThan(10);
    for (const r of apiRoutes) {
      const path = r.url.replace(/:([A-Za-z_]+)/g, '{$1}');
      expect({ route: `${r.method} ${path}`, documented: !!doc.paths[path]?.[r.method] }).toEqual({
        route: `${r.method} ${path}`,
        documented: true,
      });
    }
  });

  it('documents, for every route that takes a body, the answers Fastify gives before the controller (400, 413, 415)', () => {
    const doc = buildOpenApiDocument(app) as unknown as {
      paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, { content?: object }> }>>;
    };
    const withBody = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => op.requestBody)
        .map(([method, op]) => ({ route: `${method} ${path}`, op })),
    );
    expect(withBody.map((r) => r.route)).toEqual(
      expect.arrayContaining(['post /api/v1/mcps/{tool_id}/versions', 'post /api/v1/auth/login']),
    );
    for (const { route, op } of withBody)
      expect({ route, documented: ['400', '413', '415'].filter((s) => op.responses[s]?.content) }).toEqual({
        route,
        documented: ['400', '413', '415'],
      });
  });
});
