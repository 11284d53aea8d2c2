import { z } from 'zod';

/**
 * Domain events on the topic exchange. Routing keys are `<aggregate>.<event>`; values are wire
 * names: never rename one without a migration of the consumers' bindings.
 */
export const EventKey = {
  USER_CREATED: 'user.created',
  USER_UPDATED: 'user.updated',
} as const;
export type EventKey = (typeof EventKey)[keyof typeof EventKey];

const roleSchema = z.enum(['admin', 'maintainer', 'viewer']);

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
