import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/** Per-request facts that every log line, RPC message, event and job carries along. */
export interface RequestContext {
  requestId: string;
  userId?: string;
  /**
   * RPC handlers: RabbitMQ delivered this request before (to a consumer that died or lost its
   * channel without acknowledging it), so its change may already be committed. The registry then
   * looks for the change this same request made (its history entry, or its answer's record, names
   * the request) and answers as made instead of making it again.
   */
  redelivered?: boolean;
}

const storage = new AsyncLocalStorage<RequestContext>();

export const requestContext = {
  run<T>(ctx: RequestContext, fn: () => T): T {
    return storage.run(ctx, fn);
  },
  get(): RequestContext | undefined {
    return storage.getStore();
  },
  requestId(): string | undefined {
    return storage.getStore()?.requestId;
  },
  redelivered(): boolean {
    return storage.getStore()?.redelivered === true;
  },
};

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** Accepts a caller's request id only if it is short and harmless in logs; otherwise makes one. */
export function sanitizeRequestId(candidate: unknown): string {
  return typeof candidate === 'string' && REQUEST_ID_RE.test(candidate) ? candidate : randomUUID();
}
