import { z } from 'zod';

/**
 * Domain events on the topic exchange. Routing keys are `<aggregate>.<event>`; values are wire
 * names: never rename one without a migration of the consumers' bindings.
 */
export const EventKey = {
  USER_CREATED: 'user.created',
  USER_UPDATED: 'user.updated',
  TOOL_CREATED: 'tool.created',
  TOOL_UPDATED: 'tool.updated',
  TOOL_DELETED: 'tool.deleted',
  TOOL_RESTORED: 'tool.restored',
  TOOL_VERSION_PUBLISHED: 'tool.version.published',
  TOOL_VERSION_YANKED: 'tool.version.yanked',
  TOOL_VERSION_UNYANKED: 'tool.version.unyanked',
  TOOL_LATEST_CHANGED: 'tool.latest.changed',
  GITHUB_DOCUMENT_PUBLISHED: 'github.document.published',
} as const;
export type EventKey = (typeof EventKey)[keyof typeof EventKey];

/** Event consumers (each has its own durable queue and dead-letter queue). Never rename without migrating the queue. */
export const EventConsumer = {
  /** Retired: the gateway no longer consumes tool events (the registry's outbox relay bumps the cache); its queue is deleted at start. */
  GATEWAY_REGISTRY_CACHE: 'gateway-registry-cache',
  KNOWLEDGE_INGEST: 'knowledge-ingest',
} as const;
export type EventConsumer = (typeof EventConsumer)[keyof typeof EventConsumer];

const roleSchema = z.enum(['admin', 'maintainer', 'viewer']);

/**
 * Every tool event names the tool and who may see it as of the change (its owner and visibility),
 * so that whoever relays it to people (the gateway's live events) need not look the tool up.
 * Optional: events written before they were added carry neither.
 */
const toolAudience = {
  tool_id: z.string(),
  name: z.string(),
  owner_id: z.string().optional(),
  visibility: z.enum(['private', 'public']).optional(),
};

export const EventSchemas = {
  [EventKey.USER_CREATED]: z.object({
    user_id: z.string(),
    username: z.string(),
    role: roleSchema,
  }),
  [EventKey.USER_UPDATED]: z.object({
    user_id: z.string(),
    changes: z.object({ role: roleSchema.optional(), disabled: z.boolean().optional() }),
  }),
  [EventKey.TOOL_CREATED]: z.object({
    tool_id: z.string(),
    name: z.string(),
    owner_id: z.string(),
    visibility: z.enum(['private', 'public']),
  }),
  [EventKey.TOOL_UPDATED]: z.object({
    ...toolAudience,
    fields: z.array(z.string()),
    /** Who could see the tool before, when this change moved that (visibility, owner): they hear of it too. */
    previous: z.object({ owner_id: z.string(), visibility: z.enum(['private', 'public']) }).optional(),
  }),
  [EventKey.TOOL_DELETED]: z.object(toolAudience),
  [EventKey.TOOL_RESTORED]: z.object(toolAudience),
  [EventKey.TOOL_VERSION_PUBLISHED]: z.object({ ...toolAudience, version: z.string(), sha256: z.string() }),
  [EventKey.TOOL_VERSION_YANKED]: z.object({ ...toolAudience, version: z.string(), reason: z.string() }),
  [EventKey.TOOL_VERSION_UNYANKED]: z.object({ ...toolAudience, version: z.string() }),
  [EventKey.TOOL_LATEST_CHANGED]: z.object({ ...toolAudience, latest: z.string().nullable(), pinned: z.boolean() }),
  /** A repository's README or docs file as github-sync read it (knowledge keeps one document per repository + path). */
  [EventKey.GITHUB_DOCUMENT_PUBLISHED]: z.object({
    repository: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'owner/name'),
    path: z.string().min(1).max(1024),
    ref: z.string().max(255).nullable(),
    content: z.string(),
    content_type: z.enum(['text/markdown', 'text/plain', 'application/json']),
    owner_id: z.string().describe('the user who connected the repository'),
    visibility: z.enum(['private', 'public']),
    tool_ids: z.array(z.string()).max(50),
  }),
} as const satisfies Record<EventKey, z.ZodType>;

export type EventPayload<K extends EventKey> = z.infer<(typeof EventSchemas)[K]>;

/** What travels on the wire: the payload plus the facts every consumer needs. */
export interface EventMessage<K extends EventKey = EventKey> {
  id: string;
  key: K;
  occurred_at: string;
  request_id?: string;
  payload: EventPayload<K>;
}
