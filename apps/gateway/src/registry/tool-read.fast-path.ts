import type { FastifyInstance, FastifyReply, onRequestHookHandler } from 'fastify';
import { BoundCounter, metricsRegistry } from '#common';
import type { GatewayAuthGuard } from '../auth/auth.guard';
import { REQUIRED_PERMISSION, toActor, type AuthedRequest, type Principal } from '../auth/principal';
import { hasPermission, type Permission } from '../auth/rbac';
import { uuidParam } from '../http/validation';
import { RegistryCacheService, type ToolLookup } from './registry-cache.service';
import { ToolsController } from './tools.controller';

/** `toolLookup`: the cache lookup the fast path made for this request's tool, for the controller to reuse when it answers instead. */
export type ToolReadRequest = AuthedRequest & { toolLookup?: ToolLookup };

const ROUTE = '/api/v1/mcps/:tool_id';
const fastAnswers = new BoundCounter({
  name: 'gateway_fast_path_responses_total',
  help: "Requests answered before Nest's pipeline (cache hits the caller may see), by route",
  labelNames: ['route'] as const,
  registers: [metricsRegistry],
}).bind({ route: ROUTE });
const toolIdSchema = uuidParam('tool_id');

/**
 * `GET /api/v1/mcps/{tool_id}` is the registry's hottest read. A cache hit that the caller may see
 * is answered here, in a route-level onRequest hook, before Nest's pipeline (guards, pipes,
 * interceptors, serialisation) — measured at about half of the route's cost. Nothing is skipped:
 * the global hooks (security headers, request id, metrics) have run or will run, authentication
 * and rate limits are GatewayAuthGuard's own (preAuthenticate), the permission is the one the
 * controller declares, visibility is the registry's rule, and Redis is asked for the current
 * cache generation as on every read. Anything else — no or new credentials, a refusal, an
 * invalid id, a miss, a tool the caller may not see — goes on to the controller, which reuses
 * what was learned here (authentication outcome, cache lookup) so nothing is counted twice.
 */
export function attachFastToolRead(fastify: FastifyInstance, guard: GatewayAuthGuard, cache: RegistryCacheService): void {
  const handler: unknown = Reflect.get(ToolsController.prototype, 'get');
  const permission = Reflect.getMetadata(REQUIRED_PERMISSION, handler as object) as Permission | undefined;
  if (!permission) throw new Error(`${ROUTE}: the controller declares no permission; the fast path will not guess one`);

  // Callback style, without async functions: each promise costs the request-context hooks too,
  // and a cache hit needs only the one of the shared generation read. A throw of this hook's own
  // code goes to done(err), as a rejected async hook's would (and never becomes an unhandled
  // rejection); what done() runs after it is Fastify's, as before.
  const serveCached: onRequestHookHandler = (req, reply: FastifyReply, done) => {
    const request = req as ToolReadRequest;
    const parsed = toolIdSchema.safeParse((request.params as { tool_id?: unknown }).tool_id);
    if (!parsed.success) return done();
    const found = (principal: Principal, lookup: ToolLookup) => {
      let body: string | undefined;
      try {
        request.toolLookup = lookup;
        if ('hit' in lookup && RegistryCacheService.visible(lookup.hit.view, toActor(principal))) body = lookup.hit.body;
      } catch (err) {
        return done(err as Error);
      }
      if (body === undefined) return done();
      fastAnswers.inc();
      void reply.type('application/json; charset=utf-8').send(body);
    };
    const authenticated = (principal: Principal | undefined) => {
      let lookup: Promise<ToolLookup> | undefined;
      try {
        if (principal && hasPermission(principal.role, permission, principal.scopes)) lookup = cache.lookup(parsed.data);
      } catch (err) {
        return done(err as Error);
      }
      if (!lookup || !principal) return done();
      lookup.then((l) => found(principal, l), done);
    };
    const pre = guard.preAuthenticate(request);
    if (pre instanceof Promise) pre.then(authenticated, done);
    else authenticated(pre);
  };

  fastify.addHook('onRoute', (route) => {
    if (route.url !== ROUTE || route.method !== 'GET') return;
    const existing = route.onRequest ? (Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]) : [];
    route.onRequest = [...existing, serveCached];
  });
}
