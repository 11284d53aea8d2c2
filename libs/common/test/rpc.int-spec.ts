import 'reflect-metadata';
import amqplib from 'amqplib';
import { Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientProxyFactory, type ClientProxy, type MicroserviceOptions, type RmqOptions } from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';
import { ErrorCode, rpcQueueName, RpcPattern } from '#contracts';
import type { AmqpConnectionManager, Channel } from 'amqp-connection-manager';
import {
  DomainError,
  JsonLogger,
  PlatformClientRMQ,
  PlatformServerRMQ,
  requestContext,
  rmqRpcOptions,
  RpcClient,
  rpcServerStrategy,
  ServiceCoreModule,
  startMetricsServer,
} from '#common';
import { freePort, isolate, type TestIsolation } from '#testing';

/** Real RabbitMQ: a service started like production answers typed RPCs from the gateway's client. */
describe('RPC over RabbitMQ', () => {
  let iso: TestIsolation;
  let service: INestMicroservice;
  let client: RpcClient;
  const lines: string[] = [];

  beforeAll(async () => {
    iso = isolate({ LOG_LEVEL: 'debug', RPC_TIMEOUT_MS: '1500' });
    const config = iso.config;
    @Module({ imports: [ServiceCoreModule.forService('registry', config)] })
    class TestRegistryModule {}
    service = await NestFactory.createMicroservice<MicroserviceOptions>(TestRegistryModule, {
      ...rpcServerStrategy(config, 'registry'),
      logger: false,
    });
    // Capture the service's own JSON log lines to check request id propagation.
    const logger = service.get(JsonLogger);
    (logger as unknown as { out: (l: string) => void }).out = (l) => lines.push(l);
    await service.listen();
    client = new RpcClient(config);
  });

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
});
