import { allowedScopes, excessScopes, hasPermission, PERMISSIONS, ROLE_PERMISSIONS, ROLES, SCOPES, type Permission } from './rbac';

const ALL = Object.keys(PERMISSIONS) as Permission[];

describe('RBAC', () => {
  it('orders roles: viewer ⊂ maintainer ⊂ admin', () => {
    for (const p of ROLE_PERMISSIONS.viewer) expect(ROLE_PERMISSIONS.maintainer.has(p)).toBe(true);
    for (const p of ROLE_PERMISSIONS.maintainer) expect(ROLE_PERMISSIONS.admin.has(p)).toBe(true);
    expect(ROLE_PERMISSIONS.admin.size).toBe(ALL.length);
  });

  it('gives viewers read permissions only, and no admin permissions to non-admins', () => {
    for (const p of ROLE_PERMISSIONS.viewer) {
      // profile.write lets a viewer manage their own password and API keys.
      if (p !== 'profile.write') expect(PERMISSIONS[p]).toBe('read');
    }
    for (const role of ['viewer', 'maintainer'] as const) {
      for (const p of ALL.filter((x) => PERMISSIONS[x] === 'admin')) expect(hasPermission(role, p)).toBe(false);
    }
  });

  it.each([
    ['viewer', 'tools.read', true],
    ['viewer', 'tools.write', false],
    ['viewer', 'users.manage', false],
    ['maintainer', 'tools.write', true],
    ['maintainer', 'users.read', false],
    ['admin', 'users.manage', true],
    ['admin', 'audit.read', true],
  ] as const)('%s has %s: %s', (role, permission, expected) => {
    expect(hasPermission(role, permission)).toBe(expected);
  });

  it('caps an API key by its scopes and never above its owner role', () => {
    expect(hasPermission('admin', 'tools.read', ['read'])).toBe(true);
    expect(hasPermission('admin', 'tools.write', ['read'])).toBe(false);
    expect(hasPermission('admin', 'tools.write', ['write'])).toBe(true);
    expect(hasPermission('admin', 'users.manage', ['write'])).toBe(false);
    expect(hasPermission('admin', 'users.manage', ['admin'])).toBe(true);
    // Scopes can't lift a role: a viewer's admin-scoped key still cannot write.
    expect(hasPermission('viewer', 'tools.write', ['admin'])).toBe(false);
    expect(hasPermission('admin', 'tools.read', [])).toBe(false);
  });

  it('exhaustively: a scoped key holds a permission iff role allows it and some scope covers its kind', () => {
    const rank = { read: 0, write: 1, admin: 2 } as const;
    for (const role of ROLES)
      for (const scope of SCOPES)
        for (const p of ALL) {
          const expected = ROLE_PERMISSIONS[role].has(p) && rank[PERMISSIONS[p]] <= rank[scope];
          expect(hasPermission(role, p, [scope])).toBe(expected);
        }
  });

  it('lets roles grant only scopes up to their level', () => {
    expect(allowedScopes('viewer')).toEqual(['read']);
    expect(excessScopes('viewer', ['read', 'write'])).toEqual(['write']);
    expect(excessScopes('maintainer', ['read', 'write'])).toEqual([]);
    expect(excessScopes('maintainer', ['admin'])).toEqual(['admin']);
    expect(excessScopes('admin', ['read', 'write', 'admin'])).toEqual([]);
  });
});
