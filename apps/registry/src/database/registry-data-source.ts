import { databaseName, mysqlOptions, OutboxMessage, type AppConfig } from '#common';
import { IdempotencyRecord } from '../idempotency/idempotency-record.entity';
import { ToolHistory } from '../tools/tool-history.entity';
import { Tool } from '../tools/tool.entity';
import { ToolVersion } from '../versions/tool-version.entity';
import { InitialRegistry1763773200000 } from './migrations/1763773200000-initial-registry';
import { IdempotencyKeys1764806400000 } from './migrations/1764806400000-idempotency-keys';
import { RequestIds1764979200000 } from './migrations/1764979200000-request-ids';

export const REGISTRY_ENTITIES = [Tool, ToolVersion, ToolHistory, OutboxMessage, IdempotencyRecord];
/** In order; listed explicitly so a build never picks up stale files. */
export const REGISTRY_MIGRATIONS = [InitialRegistry1763773200000, IdempotencyKeys1764806400000, RequestIds1764979200000];

export function registryDbOptions(config: AppConfig) {
  return mysqlOptions(config, databaseName(config, 'registry'), REGISTRY_ENTITIES, REGISTRY_MIGRATIONS);
}
