import { ErrorCode, type Actor } from '#contracts';
import { DomainError } from '../errors/domain-error';

/**
 * Object-level authorization of the registry (the gateway has already checked the route-level
 * permission). Private tools are visible to their owner and admins; everyone signed in sees public
 * ones. Only the owner (a maintainer or admin) or an admin may change a tool. An invisible tool is
 * "not found", never "forbidden", so ids of private tools do not leak.
 */
export function isAdmin(actor: Actor): boolean {
  return actor.role === 'admin' && (actor.scopes === undefined || actor.scopes.includes('admin'));
}

export function canRead(tool: { ownerId: string; visibility: string }, actor: Actor): boolean {
  return tool.visibility === 'public' || tool.ownerId === actor.user_id || isAdmin(actor);
}

/**
 * Whether the actor may see the tool at all: a soft-deleted one is hidden from everyone but admins,
 * who may inspect it (detail, versions, history) before restoring it. Lists hide it from admins
 * too unless they ask for `include_deleted`.
 */
export function canSee(tool: { ownerId: string; visibility: string; deletedAt: Date | string | null }, actor: Actor): boolean {
  return (!tool.deletedAt || isAdmin(actor)) && canRead(tool, actor);
}

export function canWrite(tool: { ownerId: string }, actor: Actor): boolean {
  return isAdmin(actor) || (tool.ownerId === actor.user_id && actor.role !== 'viewer');
}

export function requireActor(actor: Actor | undefined): Actor {
  if (!actor) throw new DomainError(ErrorCode.UNAUTHENTICATED, 'The registry needs an authenticated caller');
  return actor;
}

export function forbidden(action: string): DomainError {
  return new DomainError(ErrorCode.FORBIDDEN, `Only the tool's owner or an admin may ${action}`);
}
