import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { DataSource, type FindOptionsWhere } from 'typeorm';
import { z } from 'zod';
import { RequirePermission } from '../auth/principal';
import { ApiAuth, ApiErrors, ApiReply } from '../http/openapi';
import { paginatedSchema, paginationQuery, ValidQuery } from '../http/validation';
import { AuditLog } from './audit-log.entity';

const auditQuery = paginationQuery.extend({
  actor_id: z.uuid().optional(),
  action: z.string().max(100).optional(),
  entity_type: z.string().max(50).optional(),
  entity_id: z.string().max(128).optional(),
});
const auditEntrySchema = z.object({
  id: z.string(),
  actor_id: z.string().nullable(),
  actor_type: z.string(),
  action: z.string(),
  entity_type: z.string(),
  entity_id: z.string().nullable(),
  details: z.unknown(),
  request_id: z.string().nullable(),
  ip: z.string().nullable(),
  created_at: z.string(),
});

@ApiTags('audit')
@ApiAuth()
@Controller('api/v1/audit')
export class AuditController {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  @Get()
  @RequirePermission('audit.read')
  @ApiOperation({ summary: 'The audit log, newest first (admin)' })
  @ApiReply(200, paginatedSchema(auditEntrySchema))
  @ApiErrors(400)
  async list(@ValidQuery(auditQuery) q: z.output<typeof auditQuery>) {
    const where: FindOptionsWhere<AuditLog> = {};
    if (q.actor_id) where.actorId = q.actor_id;
    if (q.action) where.action = q.action;
    if (q.entity_type) where.entityType = q.entity_type;
    if (q.entity_id) where.entityId = q.entity_id;
    const [rows, total] = await this.dataSource.getRepository(AuditLog).findAndCount({
      where,
      order: { createdAt: 'DESC', id: 'DESC' },
      skip: (q.page - 1) * q.page_size,
      take: q.page_size,
    });
    return {
      items: rows.map((r) => ({
        id: r.id,
        actor_id: r.actorId,
        actor_type: r.actorType,
        action: r.action,
        entity_type: r.entityType,
        entity_id: r.entityId,
        details: r.details,
        request_id: r.requestId,
        ip: r.ip,
        created_at: r.createdAt.toISOString(),
      })),
      total,
      page: q.page,
      page_size: q.page_size,
    };
  }
}
