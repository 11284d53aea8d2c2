import { Controller, Get, Header, Inject, Req } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { ErrorCode } from '#contracts';
import { APP_CONFIG, DomainError, metricsRegistry, type AppConfig } from '#common';
import { Public } from '../auth/principal';
import { ApiErrors } from '../http/openapi';

/** Prometheus exposition. Open by default (like most exporters); set METRICS_TOKEN to require a bearer token. */
@ApiTags('health')
@Controller('metrics')
export class MetricsController {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  @Get()
  @Public()
  @Header('content-type', metricsRegistry.contentType)
  @ApiOperation({ summary: 'Prometheus metrics (text exposition format)' })
  @ApiErrors(401)
  async metrics(@Req() req: FastifyRequest): Promise<string> {
    const token = this.config.metricsToken;
    if (token) {
      const presented = Buffer.from(req.headers.authorization?.replace(/^Bearer /i, '') ?? '');
      const expected = Buffer.from(token);
      if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
        throw new DomainError(ErrorCode.UNAUTHENTICATED, 'Metrics need "Authorization: Bearer <METRICS_TOKEN>"');
      }
    }
    return metricsRegistry.metrics();
  }
}
