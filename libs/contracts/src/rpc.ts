import { z } from 'zod';
import {
  configStatusSchema,
  exportPageRequestSchema,
  exportPageSchema,
  exportRequestSchema,
  historyPageSchema,
  importReportSchema,
  importRpcRequestSchema,
  RegistryRequests,
  toolPageSchema,
  toolSchema,
  versionDiffSchema,
  versionPageSchema,
  versionSchema,
} from './registry';
import { documentPageSchema, documentSchema, KnowledgeRequests, searchResponseSchema } from './knowledge';
import type { ServiceName } from './services';

/**
 * The answer of a change that honours an Idempotency-Key. `idempotent_replay` is set when the
 * answer is the recorded one of an earlier request with the same key (nothing was changed now):
 * the gateway turns it into the `Idempotent-Replayed: true` response header and leaves it out of
 * the body, so a replayed body holds what the first one held.
 */
export function replayable<S extends z.ZodObject>(answer: S) {
  return answer.extend({ idempotent_replay: z.literal(true).optional() });
}

/** Who made the request, as the gateway authenticated them. Services trust it (RPC is internal). */
export const actorSchema = z.object({
  user_id: z.string(),
  role: z.enum(['admin', 'maintainer', 'viewer']),
  via: z.enum(['jwt', 'api_key', 'system']),
  scopes: z.array(z.enum(['read', 'write', 'admin'])).optional(),
});
export type Actor = z.infer<typeof actorSchema>;

/** Every RPC message is wrapped so the request id (and the actor) travel with it. */
export const rpcMetaSchema = z.object({
  request_id: z.string().min(1).max(128),
  actor: actorSchema.optional(),
});
export type RpcMeta = z.infer<typeof rpcMetaSchema>;

export interface RpcEnvelope<T> {
  meta: RpcMeta;
  data: T;
}

export const healthCheckRequestSchema = z.strictObject({});
export const dependencyHealthSchema = z.object({
  status: z.enum(['up', 'down']),
  response_time_ms: z.number(),
  error: z.string().optional(),
});
export type DependencyHealth = z.infer<typeof dependencyHealthSchema>;
export const healthCheckResponseSchema = z.object({
  service: z.string(),
  status: z.enum(['up', 'down']),
  version: z.string(),
  uptime_s: z.number(),
  checks: z.record(z.string(), dependencyHealthSchema),
});
export type HealthCheckResponse = z.infer<typeof healthCheckResponseSchema>;

/** RPC patterns, `<service>.<noun>.<verb>`. Values are wire names: never rename without a migration. */
export const RpcPattern = {
  REGISTRY_HEALTH_CHECK: 'registry.health.check',
  KNOWLEDGE_HEALTH_CHECK: 'knowledge.health.check',
  ANALYSIS_HEALTH_CHECK: 'analysis-worker.health.check',
  GITHUB_HEALTH_CHECK: 'github-sync.health.check',
  DEPLOYER_HEALTH_CHECK: 'deployer.health.check',

  REGISTRY_TOOL_CREATE: 'registry.tool.create',
  REGISTRY_TOOL_LIST: 'registry.tool.list',
  REGISTRY_TOOL_GET: 'registry.tool.get',
  REGISTRY_TOOL_UPDATE: 'registry.tool.update',
  REGISTRY_TOOL_DELETE: 'registry.tool.delete',
  REGISTRY_TOOL_RESTORE: 'registry.tool.restore',
  REGISTRY_TOOL_TRANSFER: 'registry.tool.transfer',
  REGISTRY_TOOL_HISTORY: 'registry.tool.history',
  REGISTRY_VERSION_PUBLISH: 'registry.version.publish',
  REGISTRY_VERSION_LIST: 'registry.version.list',
  REGISTRY_VERSION_GET: 'registry.version.get',
  REGISTRY_VERSION_DIFF: 'registry.version.diff',
  REGISTRY_VERSION_YANK: 'registry.version.yank',
  REGISTRY_VERSION_UNYANK: 'registry.version.unyank',
  REGISTRY_LATEST_PIN: 'registry.latest.pin',
  REGISTRY_LATEST_UNPIN: 'registry.latest.unpin',
  REGISTRY_TOOLS_IMPORT: 'registry.tools.import',
  REGISTRY_TOOLS_EXPORT: 'registry.tools.export',
  REGISTRY_TOOLS_EXPORT_PAGE: 'registry.tools.export-page',
  REGISTRY_CONFIG_RELOAD: 'registry.config.reload',
  REGISTRY_CONFIG_STATUS: 'registry.config.status',

  KNOWLEDGE_DOCUMENT_CREATE: 'knowledge.document.create',
  KNOWLEDGE_DOCUMENT_LIST: 'knowledge.document.list',
  KNOWLEDGE_DOCUMENT_GET: 'knowledge.document.get',
  KNOWLEDGE_DOCUMENT_UPDATE: 'knowledge.document.update',
  KNOWLEDGE_DOCUMENT_DELETE: 'knowledge.document.delete',
  KNOWLEDGE_SEARCH: 'knowledge.search',
} as const;
export type RpcPattern = (typeof RpcPattern)[keyof typeof RpcPattern];

/** The one map from pattern to request/response schemas: producer and consumer cannot drift. */
export const RpcContracts = {
  [RpcPattern.REGISTRY_HEALTH_CHECK]: { service: 'registry', request: healthCheckRequestSchema, response: healthCheckResponseSchema },
  [RpcPattern.KNOWLEDGE_HEALTH_CHECK]: { service: 'knowledge', request: healthCheckRequestSchema, response: healthCheckResponseSchema },
  [RpcPattern.ANALYSIS_HEALTH_CHECK]: {
    service: 'analysis-worker',
    request: healthCheckRequestSchema,
    response: healthCheckResponseSchema,
  },
  [RpcPattern.GITHUB_HEALTH_CHECK]: { service: 'github-sync', request: healthCheckRequestSchema, response: healthCheckResponseSchema },
  [RpcPattern.DEPLOYER_HEALTH_CHECK]: { service: 'deployer', request: healthCheckRequestSchema, response: healthCheckResponseSchema },

  [RpcPattern.REGISTRY_TOOL_CREATE]: { service: 'registry', request: RegistryRequests.create, response: replayable(toolSchema) },
  [RpcPattern.REGISTRY_TOOL_LIST]: { service: 'registry', request: RegistryRequests.list, response: toolPageSchema },
  [RpcPattern.REGISTRY_TOOL_GET]: { service: 'registry', request: RegistryRequests.get, response: toolSchema },
  [RpcPattern.REGISTRY_TOOL_UPDATE]: { service: 'registry', request: RegistryRequests.update, response: toolSchema },
  [RpcPattern.REGISTRY_TOOL_DELETE]: { service: 'registry', request: RegistryRequests.delete, response: toolSchema },
  [RpcPattern.REGISTRY_TOOL_RESTORE]: { service: 'registry', request: RegistryRequests.restore, response: toolSchema },
  [RpcPattern.REGISTRY_TOOL_TRANSFER]: { service: 'registry', request: RegistryRequests.transfer, response: toolSchema },
  [RpcPattern.REGISTRY_TOOL_HISTORY]: {
    service: 'registry',
    request: RegistryRequests.history,
    response: historyPageSchema,
  },
  // Publishes are short writes the registry commits in groups: callers hold them back briefly while
  // others are awaiting their answer, so they travel and commit together (RequestCoalescer).
  [RpcPattern.REGISTRY_VERSION_PUBLISH]: {
    service: 'registry',
    request: RegistryRequests.publish,
    response: replayable(versionSchema),
    coalesce: true,
  },
  [RpcPattern.REGISTRY_VERSION_LIST]: {
    service: 'registry',
    request: RegistryRequests.versions,
    response: versionPageSchema,
  },
  [RpcPattern.REGISTRY_VERSION_GET]: { service: 'registry', request: RegistryRequests.version, response: versionSchema },
  [RpcPattern.REGISTRY_VERSION_DIFF]: { service: 'registry', request: RegistryRequests.diff, response: versionDiffSchema },
  [RpcPattern.REGISTRY_VERSION_YANK]: { service: 'registry', request: RegistryRequests.yank, response: versionSchema },
  [RpcPattern.REGISTRY_VERSION_UNYANK]: { service: 'registry', request: RegistryRequests.unyank, response: versionSchema },
  [RpcPattern.REGISTRY_LATEST_PIN]: { service: 'registry', request: RegistryRequests.pin, response: toolSchema },
  [RpcPattern.REGISTRY_LATEST_UNPIN]: { service: 'registry', request: RegistryRequests.unpin, response: toolSchema },
  [RpcPattern.REGISTRY_TOOLS_IMPORT]: { service: 'registry', request: importRpcRequestSchema, response: replayable(importReportSchema) },
  [RpcPattern.REGISTRY_CONFIG_RELOAD]: { service: 'registry', request: z.strictObject({}), response: configStatusSchema },
  [RpcPattern.REGISTRY_CONFIG_STATUS]: { service: 'registry', request: z.strictObject({}), response: configStatusSchema },
  [RpcPattern.REGISTRY_TOOLS_EXPORT]: { service: 'registry', request: exportRequestSchema, response: z.record(z.string(), z.unknown()) },
  [RpcPattern.REGISTRY_TOOLS_EXPORT_PAGE]: { service: 'registry', request: exportPageRequestSchema, response: exportPageSchema },

  [RpcPattern.KNOWLEDGE_DOCUMENT_CREATE]: { service: 'knowledge', request: KnowledgeRequests.create, response: documentSchema },
  [RpcPattern.KNOWLEDGE_DOCUMENT_LIST]: { service: 'knowledge', request: KnowledgeRequests.list, response: documentPageSchema },
  [RpcPattern.KNOWLEDGE_DOCUMENT_GET]: { service: 'knowledge', request: KnowledgeRequests.get, response: documentSchema },
  [RpcPattern.KNOWLEDGE_DOCUMENT_UPDATE]: { service: 'knowledge', request: KnowledgeRequests.update, response: documentSchema },
  [RpcPattern.KNOWLEDGE_DOCUMENT_DELETE]: {
    service: 'knowledge',
    request: KnowledgeRequests.delete,
    response: z.object({ id: z.string(), deleted: z.literal(true) }),
  },
  [RpcPattern.KNOWLEDGE_SEARCH]: { service: 'knowledge', request: KnowledgeRequests.search, response: searchResponseSchema },
} as const satisfies Record<RpcPattern, { service: ServiceName; request: z.ZodType; response: z.ZodType; coalesce?: true }>;

/** What a caller sends (defaults may be omitted). */
export type RpcRequest<P extends RpcPattern> = z.input<(typeof RpcContracts)[P]['request']>;
/** What a handler receives after validation (defaults applied). */
export type RpcData<P extends RpcPattern> = z.output<(typeof RpcContracts)[P]['request']>;
export type RpcResponse<P extends RpcPattern> = z.output<(typeof RpcContracts)[P]['response']>;

/** The health pattern each service answers. */
export const HEALTH_PATTERN_BY_SERVICE = {
  registry: RpcPattern.REGISTRY_HEALTH_CHECK,
  knowledge: RpcPattern.KNOWLEDGE_HEALTH_CHECK,
  'analysis-worker': RpcPattern.ANALYSIS_HEALTH_CHECK,
  'github-sync': RpcPattern.GITHUB_HEALTH_CHECK,
  deployer: RpcPattern.DEPLOYER_HEALTH_CHECK,
} as const satisfies Record<ServiceName, RpcPattern>;
