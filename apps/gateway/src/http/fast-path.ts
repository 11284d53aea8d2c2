import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { BoundCounter, metricsRegistry, notModified } from '#common';
import type { GatewayAuthGuard } from '../auth/auth.guard';
import { REQUIRED_PERMISSION, type AuthedRequest, type Principal } from '../auth/principal';
import { hasPermission, type Permission } from '../auth/rbac';
import type { TurnSnapshot, TurnStateService } from './turn-state.service';

const fastAnswers = new BoundCounter({
  name: 'gateway_fast_path_responses_total',
  help: "Requests answered before Nest's pipeline (cache hits the caller may see), by route",
  labelNames: ['route'] as const,
  registers: [metricsRegistry],
});

/**
 * The JSON body to answer with (with its entity tag, for a conditional read), or undefined to
 * leave the request to the controller.
 */
export type FastAnswer = string | { body: string; etag: string } | undefined;

export interface FastPath<R extends AuthedRequest> {
  method: 'GET';
  /** The route as Nest registers it, e.g. `/api/v1/mcps/:tool_id`. */
  route: string;
  /** The controller method whose declared permission the fast path enforces. */
  handler: unknown;
  /** A cheap check before anything is read (e.g. a malformed id): false leaves the request to the controller. */
  accepts?: (request: R) => boolean;
  /** The answer for an authenticated caller with the permission, from the state read for this request. */
  answer: (request: R, principal: Principal, snapshot: TurnSnapshot) => FastAnswer | Promise<FastAnswer>;
}

/**
 * Answers a hot route in a route-level onRequest hook, before Nest's pipeline (guards, pipes,
 * interceptors, serialisation), which measured at about half of such a route's cost. Nothing is
 * skipped: the global hooks (security headers, request id, metrics) have run or will run;
 * authentication and rate limits are GatewayAuthGuard's own (preAuthenticate), synced with Redis
 * by a read made after the request arrived (TurnStateService); the permission is the one the
 * controller declares. Anything the fast path cannot answer — no or new credentials, a refusal,
 * a cache miss — goes on to the controller, which reuses what was learned here (authentication
 * outcome, lookups) so nothing is counted twice.
 *
 * Callback style, without async functions: each promise costs the request-context hooks too, and
 * a request that needs no round trip beyond the shared turn read costs that one promise. A throw
 * of the fast path's own code goes to done(err), as a rejected async hook's would (and never
 * becomes an unhandled rejection); what done() runs after it is Fastify's, as before.
 */
export function attachFastPath<R extends AuthedRequest>(
  fastify: FastifyInstance,
  guard: GatewayAuthGuard,
  turn: TurnStateService,
  path: FastPath<R>,
): void {
  const permission = Reflect.getMetadata(REQUIRED_PERMISSION, path.handler as object) as Permission | undefined;
  if (!permission) throw new Error(`${path.route}: the controller declares no permission; the fast path will not guess one`);
  const answered = fastAnswers.bind({ route: path.route });

  const hook: onRequestHookHandler = (req: FastifyRequest, reply: FastifyReply, done) => {
    const request = req as R;
    try {
      // Without credentials (a 401) or with a malformed argument, Nest answers: nothing to read.
      if (!guard.presentsCredentials(request) || (path.accepts && !path.accepts(request))) return done();
    } catch (err) {
      return done(err as Error);
    }
    const send = (answer: FastAnswer) => {
      if (answer === undefined) return done();
      answered.inc();
      if (typeof answer === 'string') return void reply.type('application/json; charset=utf-8').send(answer);
      void reply.header('etag', answer.etag);
      if (notModified(request.headers['if-none-match'], answer.etag)) return void reply.code(304).send();
      void reply.type('application/json; charset=utf-8').send(answer.body);
    };
    const authenticated = (principal: Principal | undefined, snapshot: TurnSnapshot) => {
      let body: FastAnswer | Promise<FastAnswer>;
      try {
        if (!principal || !hasPermission(principal.role, permission, principal.scopes)) return done();
        body = path.answer(request, principal, snapshot);
      } catch (err) {
        return done(err as Error);
      }
      if (body instanceof Promise) body.then(send, done);
      else send(body);
    };
    turn.read().then((snapshot) => {
      let pre: ReturnType<GatewayAuthGuard['preAuthenticate']>;
      try {
        pre = guard.preAuthenticate(request, snapshot);
      } catch (err) {
        return done(err as Error);
      }
      if (pre instanceof Promise) pre.then((principal) => authenticated(principal, snapshot), done);
      else authenticated(pre, snapshot);
    }, done);
  };

  fastify.addHook('onRoute', (route) => {
    if (route.url !== path.route || route.method !== path.method) return;
    const existing = route.onRequest ? (Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]) : [];
    route.onRequest = [...existing, hook];
  });
}
