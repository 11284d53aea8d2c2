import type { LaunchConfig, Manifest, VersionDiff } from '#contracts';
import { canonicalJson } from './canonical-json';

interface Change {
  path: string;
  from: unknown;
  to: unknown;
}

/** Leaf-level differences between two JSON values (arrays compared as wholes, by canonical text). */
export function jsonChanges(from: unknown, to: unknown, path = ''): Change[] {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(from) && isObj(to)) {
    const keys = [...new Set([...Object.keys(from), ...Object.keys(to)])].sort();
    return keys.flatMap((k) => jsonChanges(from[k], to[k], path ? `${path}.${k}` : k));
  }
  return canonicalJson(from ?? null) === canonicalJson(to ?? null) ? [] : [{ path: path || '(root)', from: from ?? null, to: to ?? null }];
}

/** What a config runs or reaches, for comparing: a package, a command, or a remote origin. */
function launchTarget(c: LaunchConfig): string {
  if (c.type !== 'stdio') return `${c.type} server at ${URL.canParse(c.url) ? new URL(c.url).origin : c.url}`;
  return c.package ? `${c.package.registry_type} package ${c.package.identifier}` : `command '${c.command}'`;
}

/** The declared secrets (variables, headers or URL variables) of a config, by name. */
function secretsOf(c: LaunchConfig): { name: string; secret: boolean }[] {
  return c.type === 'stdio' ? c.env : [...c.headers, ...(c.variables ?? [])];
}

/**
 * Config changes a reviewer must see because they change who gets the user's trust: another
 * package, command or host runs or receives the calls (a new package version is not flagged: that
 * is what versions are for), a new secret is asked for, or a secret stops being treated as one.
 */
function configWarnings(from: LaunchConfig, to: LaunchConfig): string[] {
  const warnings: string[] = [];
  const [a, b] = [launchTarget(from), launchTarget(to)];
  if (a !== b) warnings.push(`launch target changed: ${a} → ${b}`);
  const before = new Map(secretsOf(from).map((e) => [e.name, e.secret]));
  for (const e of secretsOf(to)) {
    if (e.secret && !before.has(e.name)) warnings.push(`asks for a new secret: ${e.name}`);
    if (!e.secret && before.get(e.name) === true) warnings.push(`${e.name} is no longer marked secret`);
  }
  return warnings;
}

/**
 * What changed between two versions. Changed tool descriptions and input schemas are called out
 * as warnings (as are the config changes of configWarnings): silently changing a tool's definition after users approved it ("rug pull") is a
 * known attack on MCP clients, so a reviewer must see it.
 */
export function diffVersions(
  fromVersion: string,
  toVersion: string,
  from: { config: LaunchConfig; manifest: Manifest | null },
  to: { config: LaunchConfig; manifest: Manifest | null },
): VersionDiff {
  const changes = jsonChanges(from.config, to.config);
  const before = new Map((from.manifest?.tools ?? []).map((t) => [t.name, t]));
  const after = new Map((to.manifest?.tools ?? []).map((t) => [t.name, t]));
  const added = [...after.keys()].filter((n) => !before.has(n)).sort();
  const removed = [...before.keys()].filter((n) => !after.has(n)).sort();
  const changed = [...after.keys()]
    .filter((n) => before.has(n))
    .sort()
    .map((name) => {
      const a = before.get(name)!;
      const b = after.get(name)!;
      return {
        name,
        description_changed: (a.description ?? '') !== (b.description ?? ''),
        schema_changed: canonicalJson(a.input_schema) !== canonicalJson(b.input_schema),
      };
    })
    .filter((c) => c.description_changed || c.schema_changed);
  const warnings = changed.flatMap((c) => [
    ...(c.description_changed ? [`tool '${c.name}': description changed`] : []),
    ...(c.schema_changed ? [`tool '${c.name}': input schema changed`] : []),
  ]);
  if (from.manifest && !to.manifest) warnings.push('the new version has no tool manifest');
  warnings.unshift(...configWarnings(from.config, to.config));
  return {
    from: fromVersion,
    to: toVersion,
    config: { changed: changes.length > 0, changes },
    manifest: { added, removed, changed },
    warnings,
  };
}
