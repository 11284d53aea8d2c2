import type { DynamicModule, INestMicroservice, LoggerService, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { MicroserviceOptions } from '@nestjs/microservices';
import { rpcQueueName, type ServiceName } from '#contracts';
import { ConfigError, loadConfig, type AppConfig } from '../config/config';
import { JsonLogger } from '../logging/json-logger';
import { armCrashPoint } from '../util/crash-point';
import { installAmqpWriteCoalescing } from '../messaging/amqp-write-coalescing';
import { PlatformServerRMQ, rmqRpcOptions } from '../messaging/rmq-options';
import { RpcDispatcher } from '../messaging/rpc-server';
import { initMetrics, startMetricsServer } from '../metrics/metrics';

/**
 * A back-end service's Nest application, serving RPC on its durable RabbitMQ queue once listening:
 * Nest's RMQ transport, with the service's own handlers run by its RpcDispatcher.
 */
export async function createRpcService(
  rootModule: Type | DynamicModule,
  config: AppConfig,
  service: ServiceName,
  logger: LoggerService | false,
): Promise<INestMicroservice> {
  const server = new PlatformServerRMQ(rmqRpcOptions(config, service).options!);
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(rootModule, { strategy: server, logger });
  server.dispatchWith(app.get(RpcDispatcher));
  return app;
}

/**
 * Starts a back-end service as an RPC server on its durable RabbitMQ queue. A configuration
 * error exits with the list of what to fix; SIGTERM/SIGINT close the consumer before exiting,
 * so unacknowledged messages go back to the queue for another instance.
 */
export async function bootstrapService(service: ServiceName, rootModule: Type | DynamicModule): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`[${service}] ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  const logger = new JsonLogger(service, config.logLevel);
  if (config.crashAt) {
    armCrashPoint(config.crashAt);
    logger.warn({ msg: 'crash point armed: this process kills itself there (FAULT_CRASH_AT, tests only)', ...config.crashAt }, 'Bootstrap');
  }
  if (!installAmqpWriteCoalescing())
    logger.warn({ msg: 'amqplib layout not recognised: RabbitMQ frames are written one by one' }, 'Bootstrap');
  const app = await createRpcService(rootModule, config, service, logger);
  app.enableShutdownHooks();
  initMetrics(service);
  if (config.metricsPort) {
    const server = await startMetricsServer(config.metricsPort);
    process.once('SIGTERM', () => server.close());
    process.once('SIGINT', () => server.close());
  }
  await app.listen();
  logger.log({ msg: `${service} is listening`, queue: rpcQueueName(config.namespace, service) }, 'Bootstrap');
}
