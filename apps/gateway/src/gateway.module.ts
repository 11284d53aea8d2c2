import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { ConfigModule, EventBus, JsonLogger, OutboxService, ProcessedMessageStore, RedisModule, RpcClient, type AppConfig } from '#common';
import { ApiKeyService } from './api-keys/api-key.service';
import { AuditController } from './audit/audit.controller';
import { AuditService } from './audit/audit.service';
import { TurnStateService } from './http/turn-state.service';
import { AuthStateService } from './auth/auth-state.service';
import { AuthController } from './auth/auth.controller';
import { GatewayAuthGuard } from './auth/auth.guard';
import { AuthService } from './auth/auth.service';
import { routesWithoutPermission } from './auth/route-permissions';
import { JwtStrategy } from './auth/jwt.strategy';
import { LoginThrottleService } from './auth/login-throttle.service';
import { PasswordService } from './auth/password.service';
import { TokenService } from './auth/token.service';
import { gatewayDbOptions } from './database/gateway-data-source';
import { HealthController } from './health/health.controller';
import { HttpErrorFilter } from './http/error.filter';
import { RateLimiterService } from './http/rate-limiter.service';
import { MetricsController } from './metrics/metrics.controller';
import { McpConfigController } from './registry/mcp-config.controller';
import { EventsController } from './events/events.controller';
import { LiveEventsService } from './events/live-events.service';
import { RegistryCacheService } from './registry/registry-cache.service';
import { KnowledgeController } from './knowledge/knowledge.controller';
import { ToolsController } from './registry/tools.controller';
import { UsersController } from './users/users.controller';
import { UsersService } from './users/users.service';

/** Refuses to serve against a database whose schema is behind the code. */
class SchemaCheck implements OnModuleInit {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}
  async onModuleInit(): Promise<void> {
    if (await this.dataSource.showMigrations()) {
      throw new Error(`Database ${String(this.dataSource.options.database)} has pending migrations: run \`npm run migrate\` first`);
    }
  }
}

export const GATEWAY_CONTROLLERS = [
  AuthController,
  UsersController,
  AuditController,
  ToolsController,
  KnowledgeController,
  McpConfigController,
  HealthController,
  MetricsController,
  EventsController,
];

/** Refuses to start when a route has no authorization declared (see routesWithoutPermission). */
class RouteAuthorizationCheck implements OnModuleInit {
  onModuleInit(): void {
    const missing = routesWithoutPermission(GATEWAY_CONTROLLERS);
    if (missing.length) throw new Error(`Routes without @Public or @RequirePermission: ${missing.join(', ')}`);
  }
}

@Module({})
export class GatewayModule {
  static forRoot(config: AppConfig, logger: JsonLogger) {
    return {
      module: GatewayModule,
      imports: [
        ConfigModule.forRoot('gateway', config),
        RedisModule,
        TypeOrmModule.forRoot(gatewayDbOptions(config)),
        PassportModule,
        JwtModule.register({}),
      ],
      controllers: GATEWAY_CONTROLLERS,
      providers: [
        { provide: JsonLogger, useValue: logger },
        RouteAuthorizationCheck,
        { provide: SchemaCheck, inject: [DataSource], useFactory: (ds: DataSource) => new SchemaCheck(ds) },
        RpcClient,
        EventBus,
        ProcessedMessageStore,
        OutboxService,
        AuditService,
        TurnStateService,
        AuthStateService,
        PasswordService,
        TokenService,
        LoginThrottleService,
        RateLimiterService,
        JwtStrategy,
        AuthService,
        ApiKeyService,
        UsersService,
        RegistryCacheService,
        LiveEventsService,
        // One instance: the global guard, also used by fast paths that answer before Nest (preAuthenticate).
        GatewayAuthGuard,
        { provide: APP_GUARD, useExisting: GatewayAuthGuard },
        { provide: APP_FILTER, useClass: HttpErrorFilter },
      ],
    };
  }
}
