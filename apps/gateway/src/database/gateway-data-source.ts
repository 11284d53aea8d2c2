import { databaseName, mysqlOptions, OutboxMessage, type AppConfig } from '#common';
import { ApiKey } from '../api-keys/api-key.entity';
import { AuditLog } from '../audit/audit-log.entity';
import { RefreshToken } from '../auth/refresh-token.entity';
import { User } from '../users/user.entity';
import { InitialGateway1763769600000 } from './migrations/1763769600000-initial-gateway';

export const GATEWAY_ENTITIES = [User, RefreshToken, ApiKey, AuditLog, OutboxMessage];
/** In order. Migrations are listed explicitly (no glob), so a build can never pick up stale files. */
export const GATEWAY_MIGRATIONS = [InitialGateway1763769600000];

export function gatewayDbOptions(config: AppConfig) {
  return mysqlOptions(config, databaseName(config, 'gateway'), GATEWAY_ENTITIES, GATEWAY_MIGRATIONS);
}
