import type { FastifyInstance } from 'fastify';
import { attachFastPath } from '../http/fast-path';
import type { TurnStateService } from '../http/turn-state.service';
import { userView } from '../users/users.service';
import type { GatewayAuthGuard } from './auth.guard';
import { AuthController } from './auth.controller';

/**
 * `GET /api/v1/auth/me`, the call every client makes to learn who it is logged in as (and the
 * platform's reference figure for authenticated requests): the caller's own user, as loaded while
 * authenticating, answered before Nest (see attachFastPath) with the controller's permission and
 * the same body the controller would serialise.
 */
export function attachFastMe(fastify: FastifyInstance, guard: GatewayAuthGuard, turn: TurnStateService): void {
  attachFastPath(fastify, guard, turn, {
    method: 'GET',
    route: '/api/v1/auth/me',
    handler: Reflect.get(AuthController.prototype, 'me'),
    answer: (_request, principal) => JSON.stringify(userView(principal.user)),
  });
}
