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

/**
 * What changed between two versions. Changed tool descriptions and input schemas are called out
 * as warnings: silently changing a tool's definition after users approved it ("rug pull") is a
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
  return {
    from: fromVersion,
    to: toVersion,
    config: { changed: changes.length > 0, changes },
    manifest: { added, removed, changed },
    warnings,
  };
}
