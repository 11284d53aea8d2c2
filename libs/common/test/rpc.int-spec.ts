import 'reflect-metadata';
import amqplib from 'amqplib';
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { ClientProxyFactory, type ClientProxy, type RmqOptions } from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';
import { ErrorCode, rpcQueueName, RpcPattern, type Actor, type RpcData } from '#contracts';
import type { AmqpConnectionManager, Channel } from 'amqp-connection-manager';
import {
  createRpcService,
  DomainError,
  JsonLogger,
  PlatformClientRMQ,
  PlatformServerRMQ,
  requestContext,
  rmqRpcOptions,
  RpcClient,
  RpcHandler,
  ServiceCoreModule,
  startMetricsServer,
} from '#common';
import { freePort, isolate, until, type TestIsolation } from '#testing';

/** Tool ids that make the probe below fail in each way a handler can. */
const PROBE = {
  missing: '00000000-0000-4000-8000-000000000001',
  bug: '00000000-0000-4000-8000-000000000002',
  storeDown: '00000000-0000-4000-8000-000000000003',
  echo: '00000000-0000-4000-8000-000000000004',
  hangUnlessRedelivered: '00000000-0000-4000-8000-000000000005',
} as const;

/** How many requests of a client to a service await their answer (the client's routing map). */
const waitingRequests = (client: RpcClient, service: string) =>
  (client as unknown as { clients: Map<string, { routingMap: Map<string, unknown> }> }).clients.get(service)!.routingMap.size;

/** Requests the probe got and will never answer. */
const hanging: string[] = [];

/**
 * A handler whose answers (all errors: their details need no response contract) tell the test
 * what the dispatcher made of a request.
 */
@Controller()
class ProbeController {
  @RpcHandler(RpcPattern.REGISTRY_TOOL_GET)
  get(req: RpcData<typeof RpcPattern.REGISTRY_TOOL_GET>, actor: Actor | undefined): Promise<never> {
    const seen = { tool_id: req.tool_id, user_id: actor?.user_id ?? null, ...requestContext.get() };
    switch (req.tool_id) {
      case PROBE.missing:
        throw new DomainError(ErrorCode.NOT_FOUND, 'no such probe');
      case PROBE.bug:
        throw new Error('secret internals');
      case PROBE.storeDown:
        throw new Error('query failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
      case PROBE.hangUnlessRedelivered:
        if (!requestContext.redelivered()) {
          hanging.push(req.tool_id);
          return new Promise<never>(() => undefined);
        }
    }
    return Promise.reject(new DomainError(ErrorCode.CONFLICT, 'seen', seen));
  }
}

/** Real RabbitMQ: a service started like production answers typed RPCs from the gateway's client. */
describe('RPC over RabbitMQ', () => {
  let iso: TestIsolation;
  let service: INestMicroservice;
  let client: RpcClient;
  const lines: string[] = [];

  beforeAll(async () => {
    iso = isolate({ LOG_LEVEL: 'debug', RPC_TIMEOUT_MS: '1500' });
    const config = iso.config;
    service = await startService();
    client = new RpcClient(config);
  });

  async function startService(): Promise<INestMicroservice> {
    @Module({ imports: [ServiceCoreModule.forService('registry', iso.config)], controllers: [ProbeController] })
    class TestRegistryModule {}
    const app = await createRpcService(TestRegistryModule, iso.config, 'registry', false);
    // Capture the service's own JSON log lines to check request id propagation.
    const logger = app.get(JsonLogger);
    (logger as unknown as { out: (l: string) => void }).out = (l) => lines.push(l);
    await app.listen();
    return app;
  }

  const probe = (toolId: string, actor?: Actor) =>
    client.send(RpcPattern.REGISTRY_TOOL_GET, { tool_id: toolId }, { actor, timeoutMs: 10_000 }).catch((e: unknown) => e);

  afterAll(async () => {
    await client?.onApplicationShutdown();
    await service?.close();
    await iso?.cleanup();
  });

  it('answers the health RPC with the state of its dependencies', async () => {
    const r = await client.send(RpcPattern.REGISTRY_HEALTH_CHECK, {});
    expect(r).toMatchObject({ service: 'registry', status: 'up', checks: { redis: { status: 'up' } } });
  });

  it("carries the caller's request id into the service's logs", async () => {
    await requestContext.run({ requestId: 'rpc-req-123' }, () => client.send(RpcPattern.REGISTRY_HEALTH_CHECK, {}));
    const handled = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'rpc handled' && l.request_id === 'rpc-req-123');
    expect(handled).toMatchObject({ pattern: 'registry.health.check', service: 'registry' });
  });

  it('turns an invalid payload into a typed VALIDATION_FAILED error at the caller', async () => {
    const err = await client.send(RpcPattern.REGISTRY_HEALTH_CHECK, { unexpected: true } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect(err).toMatchObject({ code: ErrorCode.VALIDATION_FAILED, message: expect.stringMatching(/payload/) });
  });

  it('answers SERVICE_TIMEOUT (504) when a service is not running, and the request expires unprocessed', async () => {
    const started = Date.now();
    const err = await client.send(RpcPattern.DEPLOYER_HEALTH_CHECK, {}, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: ErrorCode.SERVICE_TIMEOUT,
      message: expect.stringMatching(/deployer service did not answer within 300 ms/),
    });
    expect(Date.now() - started).toBeLessThan(2000);
    // Nothing is left waiting for the answer that never came.
    expect(waitingRequests(client, 'deployer')).toBe(0);
  });

  it('fails the requests still waiting when the client shuts down, instead of leaving them to time out', async () => {
    const own = new RpcClient(iso.config);
    // github-sync is not running here either (and the next test reads the deployer's queue).
    const pending = own.send(RpcPattern.GITHUB_HEALTH_CHECK, {}, { timeoutMs: 10_000 }).catch((e: unknown) => e);
    await until(() => waitingRequests(own, 'github-sync') === 1, 'the request is waiting for its answer');
    const started = Date.now();
    await own.onApplicationShutdown();
    expect(await pending).toMatchObject({ code: ErrorCode.SERVICE_UNAVAILABLE, details: { reason: 'Connection closed' } });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("queues a request only for as long as its caller waits, and not on the broker's disk", async () => {
    const conn = await amqplib.connect(iso.config.amqp.url);
    try {
      const ch = await conn.createChannel();
      const queue = rpcQueueName(iso.config.namespace, 'deployer');
      const pending = client.send(RpcPattern.DEPLOYER_HEALTH_CHECK, {}, { timeoutMs: 1500 }).catch((e: unknown) => e);
      // The previous test's request (300 ms) may still be queued: on a slow machine its channel
      // sent it late, and its time to live counts from when the broker got it. Skip it.
      let msg: amqplib.GetMessage | false = false;
      for (let i = 0; i < 40 && !msg; i++) {
        await new Promise((r) => setTimeout(r, 25));
        msg = await ch.get(queue, { noAck: true });
        if (msg && msg.properties.expiration === '300') msg = false;
      }
      expect(msg && msg.properties).toMatchObject({ expiration: '1500', deliveryMode: 1 });
      await pending;
    } finally {
      await conn.close();
    }
  });

  it('counts calls and handling in Prometheus metrics, served on the metrics port', async () => {
    await client.send(RpcPattern.REGISTRY_HEALTH_CHECK, {});
    const port = await freePort();
    const server = await startMetricsServer(port, '127.0.0.1');
    try {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text).toMatch(/rpc_calls_total\{[^}]*pattern="registry\.health\.check",outcome="ok"[^}]*\} [1-9]/);
      expect(text).toMatch(/rpc_calls_total\{[^}]*pattern="deployer\.health\.check",outcome="SERVICE_TIMEOUT"/);
      expect(text).toMatch(/rpc_handled_total\{[^}]*pattern="registry\.health\.check",outcome="ok"/);
      expect(text).toMatch(/rpc_handled_total\{[^}]*outcome="VALIDATION_FAILED"/);
      expect(text).toMatch(/rpc_handle_duration_seconds_bucket/);
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      server.close();
    }
  });

  it('is not pinned by messages with unknown patterns (more than the prefetch)', async () => {
    const { transport, options } = rmqRpcOptions(iso.config, 'registry');
    const { noAck: _n, prefetchCount: _p, ...clientOptions } = options as NonNullable<RmqOptions['options']>;
    const raw: ClientProxy = ClientProxyFactory.create({ transport, options: clientOptions });
    try {
      const unknown = Array.from({ length: iso.config.amqp.prefetch + 10 }, () =>
        firstValueFrom(raw.send('registry.nothing.here', { meta: { request_id: 'x' }, data: {} }).pipe(timeout(3000))).catch(
          (e: unknown) => e,
        ),
      );
      const replies = await Promise.all(unknown);
      expect(replies.every((r) => r !== undefined)).toBe(true);
      const r = await client.send(RpcPattern.REGISTRY_HEALTH_CHECK, {});
      expect(r.status).toBe('up');
    } finally {
      await raw.close();
    }
  }, 15_000);

  it('sends requests and replies on plain channels; an explicit confirm channel (events) keeps its confirms', async () => {
    const { options } = rmqRpcOptions(iso.config, 'registry');
    // The amqplib channel each channel wrapper opens on a live connection: a confirm channel has waitForConfirms.
    const opened = (connection: AmqpConnectionManager, confirm?: boolean) =>
      new Promise<Channel>((resolve) => {
        connection.createChannel({ json: false, ...(confirm === undefined ? {} : { confirm }), setup: (ch: Channel) => resolve(ch) });
      });
    const client = new PlatformClientRMQ(options!).createClient();
    const server = await new PlatformServerRMQ(options!).createClient<AmqpConnectionManager>();
    try {
      for (const connection of [client, server]) {
        expect('waitForConfirms' in (await opened(connection))).toBe(false);
        expect('waitForConfirms' in (await opened(connection, true))).toBe(true);
      }
    } finally {
      await Promise.all([client.close(), server.close()]);
    }
  }, 15_000);

  it("hands a handler its validated request, the caller and the caller's request id", async () => {
    const actor: Actor = { user_id: 'u-1', role: 'maintainer', via: 'jwt' };
    const err = await requestContext.run({ requestId: 'probe-req-1' }, () => probe(PROBE.echo, actor));
    expect(err).toMatchObject({
      code: ErrorCode.CONFLICT,
      details: { tool_id: PROBE.echo, user_id: 'u-1', requestId: 'probe-req-1', userId: 'u-1', redelivered: false },
    });
    const invalid = await probe('x'.repeat(65));
    expect(invalid).toMatchObject({ code: ErrorCode.VALIDATION_FAILED, message: expect.stringMatching(/payload\.tool_id/) });
  });

  it('answers each kind of failure as what it is, and never with the internals of a bug', async () => {
    expect(await probe(PROBE.missing)).toMatchObject({ code: ErrorCode.NOT_FOUND, message: 'no such probe' });
    const down = await probe(PROBE.storeDown);
    expect(down).toMatchObject({ code: ErrorCode.SERVICE_UNAVAILABLE, details: { dependency: 'MySQL' } });
    const bug = (await probe(PROBE.bug)) as DomainError;
    expect(bug).toMatchObject({ code: ErrorCode.INTERNAL, message: 'Internal error in registry' });
    expect(JSON.stringify(bug)).not.toMatch(/secret internals/);
    // The error id the caller got finds the stack trace in the service's log.
    const logged = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.error_id === (bug.details as { error_id?: string }).error_id);
    expect(logged).toMatchObject({ msg: 'unhandled error in RPC handler', err: 'Error: secret internals' });
  });

  it('refuses to start with two handlers for one pattern', async () => {
    @Controller()
    class SecondHealth {
      @RpcHandler(RpcPattern.REGISTRY_HEALTH_CHECK)
      check(): never {
        throw new Error('unreachable');
      }
    }
    @Module({ imports: [ServiceCoreModule.forService('registry', iso.config)], controllers: [SecondHealth] })
    class TwiceModule {}
    // Handlers are collected when the application initialises, as listen() does.
    const twice = await createRpcService(TwiceModule, iso.config, 'registry', false);
    try {
      await expect(twice.listen()).rejects.toThrow(/Two RPC handlers for registry\.health\.check/);
    } finally {
      await twice.close();
    }
  });

  it('delivers a request again when its service stops before answering, and the handler knows it is a redelivery', async () => {
    const pending = probe(PROBE.hangUnlessRedelivered);
    await until(() => hanging.length === 1, 'the first instance got the request');
    await service.close();
    service = await startService();
    expect(await pending).toMatchObject({
      code: ErrorCode.CONFLICT,
      details: { tool_id: PROBE.hangUnlessRedelivered, redelivered: true },
    });
  }, 20_000);
});
