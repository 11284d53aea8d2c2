import type { FastifyInstance } from 'fastify';
import type { GatewayAuthGuard } from '../auth/auth.guard';
import { toActor, type AuthedRequest } from '../auth/principal';
import { attachFastPath, type FastAnswer } from '../http/fast-path';
import type { TurnStateService } from '../http/turn-state.service';
import { uuidParam } from '../http/validation';
import { RegistryCacheService, type ToolLookup } from './registry-cache.service';
import { ToolsController } from './tools.controller';

/** `toolLookup`: the cache lookup the fast path made for this request's tool, for the controller to reuse when it answers instead. */
export type ToolReadRequest = AuthedRequest & { toolLookup?: ToolLookup };

const toolIdSchema = uuidParam('tool_id');

/**
 * `GET /api/v1/mcps/{tool_id}` is the registry's hottest read: a cache hit that the caller may see
 * is answered before Nest (see attachFastPath), with the registry's visibility rule and the cache
 * generation read for this request. Anything else — an invalid id, a miss, a tool the caller may
 * not see — goes on to the controller, which reuses the lookup made here.
 */
export function attachFastToolRead(
  fastify: FastifyInstance,
  guard: GatewayAuthGuard,
  turn: TurnStateService,
  cache: RegistryCacheService,
): void {
  const toolId = (request: ToolReadRequest) => (request.params as { tool_id?: unknown }).tool_id as string;
  const answerFrom = (request: ToolReadRequest, principal: Parameters<typeof toActor>[0], lookup: ToolLookup): FastAnswer => {
    request.toolLookup = lookup;
    return 'hit' in lookup && RegistryCacheService.visible(lookup.hit.view, toActor(principal)) ? lookup.hit : undefined;
  };
  attachFastPath<ToolReadRequest>(fastify, guard, turn, {
    method: 'GET',
    route: '/api/v1/mcps/:tool_id',
    handler: Reflect.get(ToolsController.prototype, 'get'),
    accepts: (request) => toolIdSchema.safeParse(toolId(request)).success,
    answer: (request, principal, snapshot) => {
      const lookup = cache.lookupAt(toolId(request), snapshot);
      return lookup instanceof Promise ? lookup.then((l) => answerFrom(request, principal, l)) : answerFrom(request, principal, lookup);
    },
  });
}
