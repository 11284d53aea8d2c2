/**
 * Role-based access control, as pure data and functions so it can be tested exhaustively.
 *
 * A permission has a kind (read / write / admin). Roles grant sets of permissions; an API key's
 * scopes cap what its owner's role grants: `read` keeps read permissions, `write` adds write
 * permissions, `admin` keeps everything. A key can never do more than its owner's role.
 */
export const ROLES = ['viewer', 'maintainer', 'admin'] as const;
export type Role = (typeof ROLES)[number];
export const SCOPES = ['read', 'write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export const PERMISSIONS = {
  'profile.read': 'read',
  'profile.write': 'write',
  'tools.read': 'read',
  'tools.write': 'write',
  'tools.admin': 'admin',
  'knowledge.read': 'read',
  'knowledge.write': 'write',
  'analysis.read': 'read',
  'analysis.run': 'write',
  'deployments.read': 'read',
  'deployments.write': 'write',
  'github.read': 'read',
  'github.write': 'write',
  'users.read': 'admin',
  'users.manage': 'admin',
  'audit.read': 'admin',
  'system.read': 'read',
} as const satisfies Record<string, Scope>;
export type Permission = keyof typeof PERMISSIONS;

const ALL = Object.keys(PERMISSIONS) as Permission[];
const VIEWER: Permission[] = [
  'profile.read',
  'profile.write',
  'tools.read',
  'knowledge.read',
  'analysis.read',
  'deployments.read',
  'github.read',
  'system.read',
];
const MAINTAINER: Permission[] = [...VIEWER, 'tools.write', 'knowledge.write', 'analysis.run', 'deployments.write', 'github.write'];

export const ROLE_PERMISSIONS: Record<Role, ReadonlySet<Permission>> = {
  viewer: new Set(VIEWER),
  maintainer: new Set(MAINTAINER),
  admin: new Set(ALL),
};

const SCOPE_KINDS: Record<Scope, ReadonlySet<Scope>> = {
  read: new Set<Scope>(['read']),
  write: new Set<Scope>(['read', 'write']),
  admin: new Set<Scope>(['read', 'write', 'admin']),
};

/** Whether a principal with `role` (and, for an API key, `scopes`) holds `permission`. */
export function hasPermission(role: Role, permission: Permission, scopes?: readonly Scope[]): boolean {
  if (!ROLE_PERMISSIONS[role].has(permission)) return false;
  if (scopes === undefined) return true;
  const kind = PERMISSIONS[permission];
  return scopes.some((s) => SCOPE_KINDS[s].has(kind));
}

/** The scopes a role may put on its API keys. */
export function allowedScopes(role: Role): Scope[] {
  switch (role) {
    case 'viewer':
      return ['read'];
    case 'maintainer':
      return ['read', 'write'];
    case 'admin':
      return ['read', 'write', 'admin'];
    default: {
      const unreachable: never = role;
      return unreachable;
    }
  }
}

/** Scopes requested beyond what the role allows (empty when the request is fine). */
export function excessScopes(role: Role, requested: readonly Scope[]): Scope[] {
  const allowed = new Set(allowedScopes(role));
  return requested.filter((s) => !allowed.has(s));
}
