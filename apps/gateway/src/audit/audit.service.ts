import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { requestContext } from '#common';
import type { Principal } from '../auth/principal';
import { AuditLog } from './audit-log.entity';

export interface AuditEntry {
  actor?: Principal | { system: true } | { anonymous: true };
  action: string;
  entityType: string;
  entityId?: string | null;
  details?: Record<string, unknown>;
  ip?: string;
}

/** Appends to the audit log, inside the caller's transaction when one is given. */
@Injectable()
export class AuditService {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async record(entry: AuditEntry, manager: EntityManager = this.dataSource.manager): Promise<void> {
    const actor = entry.actor;
    const principal = actor && 'userId' in actor ? actor : undefined;
    const row: AuditLog = {
      id: randomUUID(),
      actorId: principal?.userId ?? null,
      actorType: principal ? (principal.via === 'api_key' ? 'api_key' : 'user') : actor && 'system' in actor ? 'system' : 'anonymous',
      action: entry.action,
      entityType: entry.entityType,
      entityId: entry.entityId ?? null,
      details: principal?.apiKeyId ? { ...entry.details, api_key_id: principal.apiKeyId } : (entry.details ?? null),
      requestId: requestContext.requestId() ?? null,
      ip: entry.ip ?? null,
      createdAt: new Date(),
    };
    await manager.insert(AuditLog, row);
  }
}
