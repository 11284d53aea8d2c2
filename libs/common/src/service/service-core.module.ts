import { Controller, type DynamicModule, Inject, Module, type OnModuleInit } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type { Redis } from 'ioredis';
import { HEALTH_PATTERN_BY_SERVICE, type HealthCheckResponse, type ServiceName } from '#contracts';
import { ConfigModule } from '../config/config.module';
import { loadConfig, type AppConfig } from '../config/config';
import { HealthRegistry } from '../health/health-registry';
import { JsonLogger } from '../logging/json-logger';
import { RpcDispatcher, RpcHandler } from '../messaging/rpc-server';
import { REDIS, RedisModule } from '../redis/redis.module';

const startedAt = Date.now();
export const PLATFORM_VERSION = process.env.npm_package_version ?? '0.1.0';

/** A controller answering `<service>.health.check` with the state of the service's own dependencies. */
function healthController(service: ServiceName) {
  const pattern = HEALTH_PATTERN_BY_SERVICE[service];
  @Controller()
  class HealthRpcController {
    constructor(@Inject(HealthRegistry) private readonly health: HealthRegistry) {}

    @RpcHandler(pattern)
    async check(): Promise<HealthCheckResponse> {
      const { ok, checks } = await this.health.runAll();
      return {
        service,
        status: ok ? 'up' : 'down',
        version: PLATFORM_VERSION,
        uptime_s: Math.round((Date.now() - startedAt) / 1000),
        checks: Object.fromEntries(Object.entries(checks).map(([k, { required: _r, ...v }]) => [k, v])),
      };
    }
  }
  return HealthRpcController;
}

@Module({})
class RedisHealthRegistration implements OnModuleInit {
  constructor(
    @Inject(HealthRegistry) private readonly health: HealthRegistry,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}
  onModuleInit(): void {
    this.health.registerProbe('redis', () => this.redis.ping());
  }
}

/**
 * What every back-end service has: validated config, JSON logging, Redis, a health registry and
 * the health RPC, and the dispatcher that runs the service's RPC handlers (RpcDispatcher).
 * Feature modules are imported next to it.
 */
@Module({})
export class ServiceCoreModule {
  static forService(service: ServiceName, config: AppConfig = loadConfig()): DynamicModule {
    const logger = new JsonLogger(service, config.logLevel);
    return {
      module: ServiceCoreModule,
      global: true,
      imports: [ConfigModule.forRoot(service, config), RedisModule, DiscoveryModule],
      controllers: [healthController(service)],
      providers: [{ provide: JsonLogger, useValue: logger }, HealthRegistry, RedisHealthRegistration, RpcDispatcher],
      exports: [JsonLogger, HealthRegistry, RpcDispatcher],
    };
  }
}
