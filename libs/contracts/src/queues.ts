import { z } from 'zod';

/**
 * BullMQ queue names. Never rename a queue without draining it first: jobs in the old queue
 * would be orphaned.
 */
export const QueueName = {
  ANALYSIS: 'analysis',
  GITHUB_WEBHOOKS: 'github-webhooks',
  GITHUB_SYNC: 'github-sync',
  KNOWLEDGE_EMBEDDINGS: 'knowledge-embeddings',
} as const;
export type QueueName = (typeof QueueName)[keyof typeof QueueName];

/** Job names per queue with their payload schemas (one map: producers and workers cannot drift). */
export const JobSchemas = {
  [QueueName.ANALYSIS]: {
    'analysis.run': z.object({ task_id: z.string(), tool_id: z.string(), kind: z.enum(['feasibility', 'improvements', 'config']) }),
  },
  [QueueName.GITHUB_WEBHOOKS]: {
    'github.webhook.process': z.object({ delivery_id: z.string(), event: z.string(), payload: z.unknown() }),
  },
  [QueueName.GITHUB_SYNC]: {
    'github.repository.sync': z.object({ connection_id: z.string() }),
  },
  [QueueName.KNOWLEDGE_EMBEDDINGS]: {
    /** Embeds the chunks of one version of a document (a newer version makes the job a no-op). */
    'knowledge.document.embed': z.object({ document_id: z.string(), content_hash: z.string() }),
  },
} as const satisfies Record<QueueName, Record<string, z.ZodType>>;

export type JobName<Q extends QueueName> = keyof (typeof JobSchemas)[Q] & string;
export type JobPayload<Q extends QueueName, N extends JobName<Q>> = z.infer<(typeof JobSchemas)[Q][N]>;
