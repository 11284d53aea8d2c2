import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { HEALTH_PATTERN_BY_SERVICE, SERVICE_NAMES, type DependencyHealth } from '#contracts';
import { APP_CONFIG, checkMysql, checkRabbit, checkRedis, PLATFORM_VERSION, probe, REDIS, RpcClient, type AppConfig } from '#common';
import { Public } from '../auth/principal';
import { ApiReply } from '../http/openapi';

const dependencySchema = z.object({
  status: z.enum(['up', 'down']),
  response_time_ms: z.number(),
  required: z.boolean(),
  error: z.string().optional(),
});
const healthSchema = z.object({
  status: z.enum(['ok', 'down']),
  version: z.string(),
  checks: z.record(z.string(), dependencySchema),
});

/**
 * `/health` reports every dependency: the gateway's stores and broker, and each back-end service
 * over RPC (which proves broker, queue and service work end to end). 503 when a required one is
 * down. `/health/live` only says the process serves HTTP (for liveness probes), `/health/ready`
 * checks the gateway's own stores (for readiness probes, so a down back-end service does not take
 * every gateway out of rotation).
 */
@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @Public()
  @ApiOperation({ summary: 'Overall health with every dependency and service' })
  @ApiReply(200, healthSchema, 'All required dependencies are up')
  async health(@Res({ passthrough: true }) reply: FastifyReply) {
    const services = SERVICE_NAMES.map(
      async (s) =>
        [
          s,
          await probe(async () => {
            const r = await this.rpc.send(HEALTH_PATTERN_BY_SERVICE[s], {}, { timeoutMs: 2000 });
            if (r.status !== 'up') throw new Error(`reports down: ${JSON.stringify(r.checks)}`);
          }, 2500),
        ] as const,
    );
    return this.respond(reply, [...(await this.ownChecks()), ...(await Promise.all(services))]);
  }

  @Get('ready')
  @Public()
  @ApiOperation({ summary: "Readiness: the gateway's own stores and broker" })
  @ApiReply(200, healthSchema)
  async ready(@Res({ passthrough: true }) reply: FastifyReply) {
    return this.respond(reply, await this.ownChecks());
  }

  @Get('live')
  @Public()
  @ApiOperation({ summary: 'Liveness: the process answers HTTP' })
  @ApiReply(200, z.object({ status: z.literal('ok') }))
  live() {
    return { status: 'ok' as const };
  }

  private async ownChecks(): Promise<(readonly [string, DependencyHealth])[]> {
    const [mysql, redis, rabbitmq] = await Promise.all([
      checkMysql(this.dataSource),
      checkRedis(this.redis),
      checkRabbit(this.config.amqp.url),
    ]);
    return [
      ['mysql', mysql],
      ['redis', redis],
      ['rabbitmq', rabbitmq],
    ];
  }

  private respond(reply: FastifyReply, results: (readonly [string, DependencyHealth])[]) {
    const checks = Object.fromEntries(results.map(([name, r]) => [name, { ...r, required: true }]));
    const ok = results.every(([, r]) => r.status === 'up');
    void reply.status(ok ? 200 : 503);
    return { status: ok ? 'ok' : 'down', version: PLATFORM_VERSION, checks };
  }
}
