import { z } from 'zod';
import type { ServiceName } from './services';

/** Who made the request, as the gateway authenticated them. Services trust it (RPC is internal). */
export const actorSchema = z.object({
  user_id: z.string(),
  role: z.enum(['admin', 'maintainer', 'viewer']),
  via: z.enum(['jwt', 'api_key']),
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
} as const satisfies Record<RpcPattern, { service: ServiceName; request: z.ZodType; response: z.ZodType }>;

export type RpcRequest<P extends RpcPattern> = z.input<(typeof RpcContracts)[P]['request']>;
export type RpcResponse<P extends RpcPattern> = z.output<(typeof RpcContracts)[P]['response']>;

/** The health pattern each service answers. */
export const HEALTH_PATTERN_BY_SERVICE: Record<ServiceName, RpcPattern> = {
  registry: RpcPattern.REGISTRY_HEALTH_CHECK,
  knowledge: RpcPattern.KNOWLEDGE_HEALTH_CHECK,
  'analysis-worker': RpcPattern.ANALYSIS_HEALTH_CHECK,
  'github-sync': RpcPattern.GITHUB_HEALTH_CHECK,
  deployer: RpcPattern.DEPLOYER_HEALTH_CHECK,
};
