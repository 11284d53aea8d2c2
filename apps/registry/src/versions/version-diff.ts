import type { LaunchConfig, Manifest, ToolAnnotations, VersionDiff } from '#contracts';
import { canonicalJson } from './canonical-json';
import { containerPrivileges, launchTarget } from './launch-target';

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

/** The declared secrets (variables, headers or URL variables) of a config, by name. */
function secretsOf(c: LaunchConfig): { name: string; secret: boolean }[] {
  return c.type === 'stdio' ? c.env : [...c.headers, ...(c.variables ?? [])];
}

/**
 * Config changes a reviewer must see because they change who gets the user's trust: another
 * package, command or host runs or receives the calls (a new package version is not flagged: that
 * is what versions are for), a container is given more of the host, a new secret is asked for, or
 * a secret stops being treated as one.
 */
function configWarnings(from: LaunchConfig, to: LaunchConfig): string[] {
  const warnings: string[] = [];
  const [a, b] = [launchTarget(from), launchTarget(to)];
  if (a !== b) warnings.push(`launch target changed: ${a} → ${b}`);
  const granted = new Set(containerPrivileges(from));
  const more = containerPrivileges(to).filter((p) => !granted.has(p));
  if (more.length) warnings.push(`gives the container more of the host: ${more.join(', ')}`);
  const before = new Map(secretsOf(from).map((e) => [e.name, e.secret]));
  for (const e of secretsOf(to)) {
    if (e.secret && !before.has(e.name)) warnings.push(`asks for a new secret: ${e.name}`);
    if (!e.secret && before.get(e.name) === true) warnings.push(`${e.name} is no longer marked secret`);
  }
  return warnings;
}

const HINTS = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint', 'title'] as const;

/**
 * Each annotation that changed, `readOnlyHint: true → unset`: a tool that stops calling itself
 * read-only, or starts calling itself destructive, changes what a client asks its user before a
 * call, so the reviewer sees the values, not only that something changed.
 */
function annotationChanges(a: ToolAnnotations | undefined, b: ToolAnnotations | undefined): string[] {
  const shown = (v: unknown) => (v === undefined ? 'unset' : JSON.stringify(v));
  return HINTS.filter((k) => a?.[k] !== b?.[k]).map((k) => `${k}: ${shown(a?.[k])} → ${shown(b?.[k])}`);
}

/**
 * What changed between two versions. Every change to a tool's definition — its description,
 * title, input or output schema, annotations — is called out as a warning (as are the config
 * changes of configWarnings): silently changing a tool's definition after users approved it ("rug
 * pull") is a known attack on MCP clients, so a reviewer must see it.
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
      const annotations = annotationChanges(a.annotations, b.annotations);
      return {
        change: {
          name,
          description_changed: (a.description ?? '') !== (b.description ?? ''),
          schema_changed: canonicalJson(a.input_schema) !== canonicalJson(b.input_schema),
          title_changed: (a.title ?? '') !== (b.title ?? ''),
          output_schema_changed: canonicalJson(a.output_schema ?? null) !== canonicalJson(b.output_schema ?? null),
          annotations_changed: annotations.length > 0,
        },
        annotations,
      };
    })
    .filter(
      ({ change: c }) => c.description_changed || c.schema_changed || c.title_changed || c.output_schema_changed || c.annotations_changed,
    );
  const warnings = changed.flatMap(({ change: c, annotations }) => [
    ...(c.description_changed ? [`tool '${c.name}': description changed`] : []),
    ...(c.title_changed ? [`tool '${c.name}': title changed`] : []),
    ...(c.schema_changed ? [`tool '${c.name}': input schema changed`] : []),
    ...(c.output_schema_changed ? [`tool '${c.name}': output schema changed`] : []),
    ...(c.annotations_changed ? [`tool '${c.name}': annotations changed (${annotations.join(', ')})`] : []),
  ]);
  if (from.manifest && !to.manifest) warnings.push('the new version has no tool manifest');
  warnings.unshift(...configWarnings(from.config, to.config));
  return {
    from: fromVersion,
    to: toVersion,
    config: { changed: changes.length > 0, changes },
    manifest: { added, removed, changed: changed.map((c) => c.change) },
    warnings,
  };
}
