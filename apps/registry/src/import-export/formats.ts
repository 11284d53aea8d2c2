import semver from 'semver';
import { z } from 'zod';
import {
  argCredentials,
  isCredentialName,
  createToolSchema,
  credentialInDefault,
  findKnownCredential,
  fillUrlTemplate,
  holdsCredential,
  isRemoteTemplate,
  launchConfigSchema,
  DEFAULT_EXPORT_NAMESPACE,
  imageReference,
  splitImageReference,
  urlTemplateNames,
  variableNameFor,
  toolNameSchema,
  TOOL_NAME_RE,
  type ImportFormat,
  type LaunchConfig,
  type Manifest,
  type ToolView,
  type RemoteVariable,
} from '#contracts';
import {
  editorInputs,
  expandMcpServers,
  headerValue,
  literalBraces,
  ownEntry,
  RemoteVariables,
  scrubUrl,
  type EditorInputs,
} from './remote-templates';

/**
 * Conversions between the registry's model and the formats MCP users already have:
 * - `mcpServers` JSON (Claude Desktop's config, `.mcp.json`): `{ mcpServers: { <name>: { command,
 *   args, env } | { type: "http" | "sse", url, headers } } }`;
 * - the official MCP registry `server.json`: `{ name, description, version, packages[], remotes[] }`.
 *
 * Secret values never enter the registry: environment variables and headers become declarations,
 * and any value found in the file is dropped (reported in `notes`).
 */
export interface ImportEntry {
  name: string;
  /** server.json's `title`. */
  display_name?: string;
  description?: string;
  repository_url?: string;
  homepage_url?: string;
  /** Given by server.json; chosen by the importer for mcpServers entries. */
  version?: string;
  config: LaunchConfig;
  manifest?: Manifest;
}

export interface ParsedImport {
  entries: ImportEntry[];
  /** Problems that make the import invalid: field path and message. */
  errors: { field: string; message: string }[];
  notes: string[];
}

/**
 * The format of a document: `mcpServers` (Claude Desktop, Claude Code's `.mcp.json`, Cursor) or
 * VS Code's `servers` object (same entries, with `inputs`) is the mcpServers family; a server.json,
 * or a list of them under `servers` (as the export of every tool writes it), is server-json.
 */
export function detectFormat(doc: Record<string, unknown>): ImportFormat | undefined {
  if (typeof doc.mcpServers === 'object' && doc.mcpServers !== null) return 'mcp-servers';
  if (Array.isArray(doc.servers)) return 'server-json';
  if (typeof doc.servers === 'object' && doc.servers !== null) return 'mcp-servers';
  if (typeof doc.name === 'string' && (Array.isArray(doc.packages) || Array.isArray(doc.remotes))) return 'server-json';
  return undefined;
}

/** The fields of an entry a launch config keeps (`description` goes to a new tool). */
const ENTRY_FIELDS = new Set(['command', 'args', 'env', 'type', 'url', 'serverUrl', 'headers', 'description']);

const stdioEntry = z.object({
  command: z.string().min(1),
  args: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()).optional(),
  type: z.literal('stdio').optional(),
});
/** `type` may be left out (Cursor's `mcp.json`): such an entry is taken as streamable HTTP, and a note says so. */
const remoteEntry = z.object({
  type: z.enum(['http', 'streamable-http', 'sse']).optional(),
  url: z.string(),
  headers: z.record(z.string(), z.string()).optional(),
});

/**
 * Picks an entry's form by what it has (a command: a local stdio server; a url: a remote one), so
 * a broken entry is answered with the problems of the form it meant, not with "Invalid input".
 */
function parseEntry(
  raw: unknown,
): { data: z.infer<typeof stdioEntry> | z.infer<typeof remoteEntry> } | { error: z.ZodError } | { problem: string } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { problem: 'must be an object with command (a local stdio server) or url (a remote server)' };
  const fields: Record<string, unknown> = isWindsurfEntry(raw) ? { ...raw, url: raw.serverUrl } : (raw as Record<string, unknown>);
  const schema = 'command' in fields || fields.type === 'stdio' ? stdioEntry : 'url' in fields ? remoteEntry : undefined;
  if (!schema) return { problem: 'give command (a local stdio server) or url (a remote server)' };
  const parsed = schema.safeParse(fields);
  return parsed.success ? { data: parsed.data } : { error: parsed.error };
}

/** Windsurf's mcp_config.json names a remote server's URL `serverUrl`: read as `url`, its problems named `serverUrl`. */
function isWindsurfEntry(raw: object): raw is { serverUrl: unknown } {
  return 'serverUrl' in raw && !('url' in raw);
}

/**
 * Files often pass a key on the command line (`--api-key sk-…`, `--token=…`, `--header
 * "Authorization: Bearer …"`). Such a value never enters the registry: it becomes a `${NAME}`
 * placeholder with NAME declared as a required secret, like the values of `env`. What counts as a
 * credential is the rule the version schema refuses (argCredentials, one finder for both), so an import
 * never fails on a credential it could have scrubbed.
 */
function scrubCredentialArgs(args: string[], env: EnvDeclaration[]): { args: string[]; scrubbed: string[] } {
  const scrubbed: string[] = [];
  const out = [...args];
  // Declared in the order found; replaced from the end of each argument so earlier places hold.
  const found = argCredentials(args).map((c) => ({
    ...c,
    placeholder: declarePlaceholder(env, scrubbed, c.label, (name) => ({ name, required: true, secret: true }), c.variable),
  }));
  for (const c of found.sort((x, y) => x.index - y.index || y.start - x.start))
    out[c.index] = out[c.index].slice(0, c.start) + c.placeholder + out[c.index].slice(c.end);
  return { args: out, scrubbed };
}

/**
 * A remote entry of an mcpServers file: its URL and header values as templates over declared
 * variables (expandMcpServers), credentials in them scrubbed into secret variables (scrubUrl,
 * headerValue); a header whose value would still keep a credential is declared without it.
 */
function remoteFromMcpServers(
  server: string,
  e: { type?: 'http' | 'streamable-http' | 'sse'; url: string; headers?: Record<string, string> },
  notes: string[],
  inputs: EditorInputs,
): Record<string, unknown> {
  const variables = new RemoteVariables();
  const expanded: string[] = [];
  const scrubbed: string[] = [];
  const dropped: string[] = [];
  const url = scrubUrl(expandMcpServers(literalBraces(e.url, true)!, variables, expanded, isCredentialName, inputs), variables, scrubbed);
  const headers = Object.entries(e.headers ?? {}).map(([name, raw]) => {
    const secret = isCredentialName(name);
    // `${X_API_KEY}` for X-Api-Key is how a header to fill in is exported (toMcpServerEntry): a plain declaration.
    if (raw === `\${${headerVariable(name)}}`) return { name, required: true, secret };
    const expandedNow: string[] = [];
    const value = variables.tentatively(() => {
      const text = literalBraces(raw, false);
      if (text === undefined) return undefined;
      const template = expandMcpServers(
        text,
        variables,
        expandedNow,
        (n) => secret || holdsCredential(name) || isCredentialName(n),
        inputs,
      );
      return headerValue(name, secret, template, variables, scrubbed);
    });
    if (value === undefined) dropped.push(name);
    else expanded.push(...expandedNow);
    return { name, required: true, secret, ...(value !== undefined ? { value } : {}) };
  });
  if (e.type === undefined) notes.push(`${server}: no type given; imported as streamable-http (set "type": "sse" for an SSE server)`);
  if (dropped.length) notes.push(`${server}: values of headers ${dropped.join(', ')} were not imported (declared as required headers)`);
  if (expanded.length) notes.push(`${server}: parts filled in at launch became variables (${expanded.join(', ')})`);
  if (scrubbed.length) notes.push(`${server}: credentials were not imported (declared as secret variables: ${scrubbed.join(', ')})`);
  return {
    type: e.type === 'sse' ? 'sse' : 'streamable-http',
    url,
    headers,
    ...(variables.list.length ? { variables: variables.list } : {}),
  };
}

/**
 * Zod's problems as `{field, message}` under `prefix`. `rename` names a field as the file spells it
 * where the parsed shape spells it otherwise (Windsurf's `serverUrl` read as `url`; a server.json
 * package's own fields read under `package`).
 */
function issues(error: z.ZodError, prefix: string, rename?: { from: string; to: string[] }) {
  return error.issues.map((i) => {
    const path = rename && i.path[0] === rename.from ? [...rename.to, ...i.path.slice(1)] : i.path;
    return { field: [prefix, ...path].filter((p) => p !== '').join('.'), message: i.message };
  });
}

const WINDSURF_URL = { from: 'url', to: ['serverUrl'] };

export function parseMcpServers(doc: Record<string, unknown>): ParsedImport {
  const out: ParsedImport = { entries: [], errors: [], notes: [] };
  // VS Code spells the object `servers` and declares what `${input:id}` asks for in `inputs`.
  const key = 'mcpServers' in doc || !('servers' in doc) ? 'mcpServers' : 'servers';
  const servers = doc[key];
  const inputs = editorInputs(doc);
  if (typeof servers !== 'object' || servers === null || Array.isArray(servers)) {
    out.errors.push({ field: `document.${key}`, message: 'must be an object of servers by name' });
    return out;
  }
  for (const [name, raw] of Object.entries(servers as Record<string, unknown>)) {
    const where = `document.${key}.${name}`;
    const nameCheck = toolNameSchema.safeParse(name);
    if (!nameCheck.success) out.errors.push({ field: where, message: `server name ${nameCheck.error.issues[0]?.message}` });
    const entry = parseEntry(raw);
    if ('problem' in entry) {
      out.errors.push({ field: where, message: entry.problem });
      continue;
    }
    // Problems are named by the file's own field.
    const rename = isWindsurfEntry(raw as object) ? WINDSURF_URL : undefined;
    if ('error' in entry) {
      out.errors.push(...issues(entry.error, where, rename));
      continue;
    }
    const e = entry.data;
    // Clients add fields of their own (Cline's disabled and autoApprove, timeouts, disabledTools):
    // a launch config has no place for them, and the notes say which were left.
    const fields = Object.keys(raw as object);
    const left = fields.filter((f) => !ENTRY_FIELDS.has(f));
    if (left.length) out.notes.push(`${name}: fields not imported: ${left.join(', ')}`);
    // Some files describe their servers (Claude Code, Cline): a new tool's description, checked as the API checks one.
    const given = (raw as { description?: unknown }).description;
    const described = given === undefined ? undefined : toolMetadataSchema.shape.description.safeParse(given);
    if (described && !described.success) {
      out.errors.push(...issues(described.error, `${where}.description`));
      continue;
    }
    let config: unknown;
    if ('command' in e) {
      const envNames = Object.keys(e.env ?? {});
      const inputOf = (n: string) => {
        const id = /^\$\{input:([A-Za-z_][A-Za-z0-9_-]*)\}$/.exec(e.env![n])?.[1];
        return id === undefined ? undefined : inputs.get(id);
      };
      const secret = (n: string) => isCredentialName(n) || inputOf(n)?.secret === true;
      // `${VAR:-default}` (Claude Code expands it) gives a default the file shows to everyone: kept
      // for a variable that is not secret, unless it could be a credential. Any other value is
      // dropped and the variable declared.
      const defaults = new Map(
        envNames.flatMap((n) => {
          const d = /^\$\{(?:env:)?[A-Za-z_][A-Za-z0-9_]*:-([^{}$]*)\}$/.exec(e.env![n])?.[1];
          return d !== undefined && !secret(n) && credentialInDefault(n, d) === undefined ? [[n, d] as const] : [];
        }),
      );
      const dropped = envNames.filter((n) => !defaults.has(n));
      if (dropped.length) out.notes.push(`${name}: values of ${dropped.join(', ')} were not imported (declared as required variables)`);
      if (defaults.size) out.notes.push(`${name}: defaults of ${[...defaults.keys()].join(', ')} kept from their \${NAME:-default}`);
      const env: EnvDeclaration[] = envNames.map((n) => {
        const input = inputOf(n);
        return {
          name: n,
          ...(input?.description ? { description: input.description } : {}),
          required: !defaults.has(n),
          secret: secret(n),
          ...(defaults.has(n) ? { default: defaults.get(n) } : {}),
        };
      });
      const { args, scrubbed } = scrubCredentialArgs(e.args ?? [], env);
      if (scrubbed.length)
        out.notes.push(`${name}: credentials on the command line were not imported (declared as secret variables: ${scrubbed.join(', ')})`);
      config = { type: 'stdio', command: e.command, args, env };
    } else {
      config = remoteFromMcpServers(name, e, out.notes, inputs);
    }
    const parsed = launchConfigSchema.safeParse(config);
    if (!parsed.success) {
      out.errors.push(...issues(parsed.error, where, rename));
      continue;
    }
    if (nameCheck.success) out.entries.push({ name, ...(described?.data ? { description: described.data } : {}), config: parsed.data });
  }
  if (!Object.keys(servers).length) out.errors.push({ field: `document.${key}`, message: 'contains no servers' });
  return out;
}

const COMMAND_META = 'io.mcp-platform/command';

const toolMetadataSchema = createToolSchema
  .pick({ display_name: true, description: true, repository_url: true, homepage_url: true })
  .partial();

/** server.json's `Input`: a value the server is given, fixed (`value`) or asked of whoever runs it. */
const serverJsonInputFields = z.object({
  description: z.string().optional(),
  isRequired: z.boolean().optional(),
  isSecret: z.boolean().optional(),
  default: z.string().optional(),
  value: z.string().optional(),
  choices: z.array(z.string()).optional(),
});
/** server.json's shape of a variable or header a server needs. */
const serverJsonInput = serverJsonInputFields.extend({ name: z.string() });
/** server.json's `Argument` (positional or named), whose `value` may name `{variables}`. */
const serverJsonArgument = serverJsonInputFields.extend({
  type: z.enum(['positional', 'named']),
  name: z.string().optional(),
  valueHint: z.string().optional(),
  variables: z.record(z.string(), serverJsonInputFields).optional(),
});
type ServerJsonArgument = z.infer<typeof serverJsonArgument>;
type EnvDeclaration = Extract<LaunchConfig, { type: 'stdio' }>['env'][number];

/** The registry types a launch config can refer to; server.json knows more (nuget, mcpb). */
const PACKAGE_REGISTRIES = ['npm', 'pypi', 'oci'] as const;
type PackageRegistry = (typeof PACKAGE_REGISTRIES)[number];
const isPackageRegistry = (t: string): t is PackageRegistry => (PACKAGE_REGISTRIES as readonly string[]).includes(t);

function declaration(name: string, input: z.infer<typeof serverJsonInputFields>): EnvDeclaration {
  const given = input.isSecret ? undefined : (input.default ?? keptValue(name, input));
  // A default is stored in plain text: one that would be a credential is left out like a secret's value.
  const fallback = given !== undefined && credentialInDefault(name, given) === undefined ? given : undefined;
  return {
    name,
    ...(input.description ? { description: input.description } : {}),
    required: input.isRequired ?? false,
    secret: input.isSecret ?? false,
    ...(fallback !== undefined ? { default: fallback } : {}),
  };
}

/**
 * A value to fill in at launch: `${NAME}` (NAME from the label), with NAME declared in `env` once
 * (the first declaration wins) and `label → ${NAME}` added to `made` for the import's notes.
 */
function declarePlaceholder(
  env: EnvDeclaration[],
  made: string[],
  label: string,
  declare: (name: string) => EnvDeclaration,
  name = variableNameFor(label),
): string {
  if (!env.some((e) => e.name === name)) env.push(declare(name));
  made.push(`${label} → \${${name}}`);
  return `\${${name}}`;
}

/**
 * A fixed value server.json gives an input, if the registry may keep it: never a secret's, one
 * whose name says it is a credential (the file may not flag it) or one in a credential's format;
 * those are declared, not stored.
 */
function keptValue(name: string, input: z.infer<typeof serverJsonInputFields>): string | undefined {
  return input.value !== undefined && !input.isSecret && !isCredentialName(name) && !findKnownCredential(input.value)
    ? input.value
    : undefined;
}

/**
 * server.json arguments as command-line strings. A fixed `value` goes in as it is; a value left
 * to whoever runs the server (no `value`: server.json's `valueHint` is only a label, never part of
 * the command line) becomes a `${NAME}` placeholder with NAME declared as a variable — the same
 * `${NAME}` form the mcpServers export uses for values to fill in. `{id}` in a value, with `id` in
 * the argument's `variables`, becomes `${ID}` the same way (per server.json, `{id}` with no such
 * variable stays as written). A named argument with no value, default or requirement is a bare flag.
 */
function argumentsFromServerJson(args: ServerJsonArgument[], env: EnvDeclaration[]): { args: string[]; placeholders: string[] } {
  const placeholders: string[] = [];
  const placeholder = (label: string, input: z.infer<typeof serverJsonInputFields>, name?: string) =>
    declarePlaceholder(env, placeholders, label, (n) => declaration(n, input), name);
  const out = args.flatMap((a) => {
    const flag = a.type === 'named' && a.name ? [a.name] : [];
    const label = a.valueHint ?? a.name ?? 'value';
    // A value built from variables keeps its text (their values are each judged); a plain one is judged itself.
    const template = a.value !== undefined && Object.keys(a.variables ?? {}).some((id) => a.value!.includes(`{${id}}`));
    if (a.value !== undefined && !a.isSecret && (template || keptValue(label, a) !== undefined)) {
      const value = a.value.replace(/\{([^{}]+)\}/g, (whole, id: string) => {
        const v = ownEntry(a.variables, id);
        if (!v) return whole;
        return keptValue(id, v) ?? placeholder(id, v.value === undefined ? v : { ...v, value: undefined, isSecret: true });
      });
      return [...flag, value];
    }
    // A fixed value that is a credential (flagged, named or shaped like one) is not kept: it is
    // asked for at launch like any value to fill in, as a secret.
    if (a.value !== undefined) {
      const known = findKnownCredential(a.value);
      const name = known && !a.valueHint && !a.name ? known.variable : undefined;
      return [...flag, placeholder(label, { ...a, value: undefined, isRequired: true, isSecret: true }, name)];
    }
    if (a.type === 'named' && a.default === undefined && !a.isRequired) return flag;
    return [...flag, placeholder(label, a)];
  });
  return { args: out, placeholders };
}

/** server.json's remote: a URL template with `variables`, and headers whose `value` may be a template over their own. */
const serverJsonRemote = z.object({
  type: z.enum(['streamable-http', 'sse']),
  url: z.string(),
  headers: z.array(serverJsonInput.extend({ variables: z.record(z.string(), serverJsonInputFields).optional() })).optional(),
  variables: z.record(z.string(), serverJsonInputFields).optional(),
});

const serverJsonSchema = z.object({
  name: toolNameSchema,
  title: z.string().optional(),
  _meta: z.record(z.string(), z.unknown()).optional(),
  description: z.string().max(10_000).optional(),
  version: z.string().min(1).max(100),
  repository: z.object({ url: z.string() }).partial().optional(),
  websiteUrl: z.string().optional(),
  packages: z
    .array(
      z.object({
        registryType: z.string().min(1),
        identifier: z.string().min(1),
        version: z.string().min(1).optional(),
        registryBaseUrl: z.string().optional(),
        fileSha256: z.string().optional(),
        transport: z.object({ type: z.string() }).optional(),
        runtimeHint: z.string().optional(),
        runtimeArguments: z.array(serverJsonArgument).optional(),
        packageArguments: z.array(serverJsonArgument).optional(),
        environmentVariables: z.array(serverJsonInput).optional(),
      }),
    )
    .optional(),
  remotes: z.array(serverJsonRemote).optional(),
});

/**
 * A server.json remote as the registry keeps it: its URL template with `variables`, and its
 * headers, whose `value` may be a template over the header's own `variables` (merged with the
 * URL's by name). A variable with a fixed `value` the registry may keep (keptValue) is written
 * into the template; one whose value is a credential is asked for at launch as a secret; `{name}`
 * with no variable is declared as a required one (server.json lets it refer to other inputs); a
 * variable nothing uses is left out; credentials written into the URL or a header are scrubbed
 * (scrubUrl, headerValue), and a header whose value would still keep one is declared without it.
 * Each of these is said in `notes`.
 */
function remoteFromServerJson(
  server: string,
  remote: z.infer<typeof serverJsonRemote>,
  notes: string[],
): { url: string; headers: Record<string, unknown>[]; variables: RemoteVariable[] } {
  const variables = new RemoteVariables();
  const undeclared: string[] = [];
  const secretValues: string[] = [];
  const unused: string[] = [];
  const scrubbed: string[] = [];
  const fill = (template: string, given: Record<string, z.infer<typeof serverJsonInputFields>> = {}, secret = false) => {
    const used = urlTemplateNames(template);
    unused.push(...Object.keys(given).filter((name) => !used.includes(name)));
    return fillUrlTemplate(template, (name) => {
      const v = ownEntry(given, name);
      // Declared for the URL or another header already: the same value (one name, one variable).
      if (!v && variables.list.some((d) => d.name === name)) return variables.declare(name, secret);
      if (!v) {
        undeclared.push(name);
        return variables.declare(name, secret || isCredentialName(name), { required: true });
      }
      // A fixed value is part of the template (checked with the rest of it); a credential's is asked for.
      const kept = secret ? undefined : keptValue(name, v);
      if (kept !== undefined) return kept;
      if (v.value !== undefined) secretValues.push(name);
      return variables.declare(name, secret || (v.isSecret ?? false) || v.value !== undefined, {
        description: v.description,
        required: v.value !== undefined ? true : v.isRequired,
        default: v.default,
        choices: v.choices,
      });
    });
  };
  const url = scrubUrl(fill(remote.url, remote.variables), variables, scrubbed);
  const dropped: string[] = [];
  const headers = (remote.headers ?? []).map((h) => {
    const secret = h.isSecret ?? false;
    // A value with text the registry's templates would misread (`${`, `{"a":1}`) is not kept.
    const template = h.value !== undefined && isRemoteTemplate(h.value);
    const marks = [undeclared.length, secretValues.length, unused.length];
    const value = !template
      ? undefined
      : variables.tentatively(() =>
          headerValue(h.name, secret, fill(h.value!, h.variables, secret || holdsCredential(h.name)), variables, scrubbed),
        );
    if (h.value !== undefined && value === undefined) {
      // Dropped: what filling it in would have noted is not so.
      dropped.push(h.name);
      [undeclared.length, secretValues.length, unused.length] = marks;
    }
    return {
      name: h.name,
      description: h.description,
      required: h.isRequired ?? false,
      secret,
      ...(value !== undefined ? { value } : {}),
    };
  });
  const uniq = (names: string[]) => [...new Set(names)].join(', ');
  if (dropped.length) notes.push(`${server}: values of headers ${uniq(dropped)} were not imported`);
  if (undeclared.length)
    notes.push(`${server}: ${uniq(undeclared.map((n) => `{${n}}`))} in the remote had no variable (declared as required variables)`);
  if (secretValues.length) notes.push(`${server}: values of variables ${uniq(secretValues)} were not imported (declared as secret)`);
  if (unused.length) notes.push(`${server}: variables ${uniq(unused)} are not used in the remote (not imported)`);
  if (scrubbed.length) notes.push(`${server}: credentials were not imported (declared as secret variables: ${scrubbed.join(', ')})`);
  return { url, headers, variables: variables.list };
}

/**
 * The release a server.json package names. An image carries its tag or digest in `identifier`
 * (the registry's form since 2025-10-11) or, in older files, in `version`; the registry keeps them
 * apart. An npm or PyPI package with no version (older files) is taken at the server's, which it
 * usually matches, and the notes say so; an image with neither is refused, as docker would run
 * whatever `latest` is that day.
 */
function packageRelease(
  p: { registryType: string; identifier: string; version?: string; registryBaseUrl?: string },
  serverVersion: string,
  at: string,
): { identifier: string; version: string; assumed: boolean } | { field: string; message: string } {
  const base = packageBase(p, at);
  if ('field' in base) return base;
  if (p.registryType !== 'oci') return { identifier: p.identifier, version: p.version ?? serverVersion, assumed: p.version === undefined };
  const image = splitImageReference(base.identifier);
  if (image.version === undefined && p.version === undefined)
    return {
      field: `${at}.identifier`,
      message: `'${p.identifier}' names no tag or digest: give the image as it is pulled, e.g. ${p.identifier}:1.0.0`,
    };
  if (image.version !== undefined && p.version !== undefined && image.version !== p.version)
    return { field: `${at}.version`, message: `'${p.version}' differs from the tag or digest in the identifier ('${image.version}')` };
  return { identifier: image.identifier, version: (image.version ?? p.version)!, assumed: false };
}

/** Each registry type's default (server.json's `registryBaseUrl` left out): where its installer looks. */
const DEFAULT_REGISTRY_URLS: Record<string, string[]> = {
  npm: ['https://registry.npmjs.org'],
  pypi: ['https://pypi.org', 'https://pypi.org/simple'],
  oci: ['https://docker.io', 'https://registry-1.docker.io', 'https://index.docker.io'],
};

/**
 * A package's `registryBaseUrl`, which a version's package reference has no place for. The
 * default is the same package; an image on another registry is named with that host (`ghcr.io` +
 * `owner/server` → `ghcr.io/owner/server`), as docker pulls it. An npm or PyPI package from
 * another registry is refused rather than dropped: its name on the public one may be someone
 * else's package (dependency confusion).
 */
function packageBase(
  p: { registryType: string; identifier: string; registryBaseUrl?: string },
  at: string,
): { identifier: string } | { field: string; message: string } {
  const url = p.registryBaseUrl?.replace(/\/+$/, '');
  const defaults = DEFAULT_REGISTRY_URLS[p.registryType] ?? [];
  if (url === undefined || defaults.includes(url.toLowerCase())) return { identifier: p.identifier };
  const field = `${at}.registryBaseUrl`;
  if (p.registryType !== 'oci')
    return {
      field,
      message: `'${p.registryBaseUrl}' is not ${defaults[0]}: a package reference names its package on the registry its installer uses by default, where the same name may be someone else's package`,
    };
  const host = URL.canParse(url) && /^https?:$/.test(new URL(url).protocol) ? new URL(url).host : undefined;
  if (!host) return { field, message: `'${p.registryBaseUrl}' is not an http(s) URL of an image registry` };
  const first = p.identifier.split('/')[0];
  // The distribution reference grammar: a first part with a dot or port, or localhost, is a host.
  const named = p.identifier.includes('/') && (/[.:]/.test(first) || first === 'localhost') ? first : undefined;
  if (named === undefined) return { identifier: `${host}/${p.identifier}` };
  return named.toLowerCase() === host.toLowerCase()
    ? { identifier: p.identifier }
    : { field, message: `'${p.registryBaseUrl}' is not the registry the identifier names (${named})` };
}

/**
 * The tool a server.json is of: its `name`, or the name our export kept in `_meta` when it put the
 * tool under a namespace (`local/filesystem` → `filesystem`), also once the namespace is changed
 * for publishing (`io.github.alice/filesystem`) — but not once the name after it is: a document
 * renamed so names what it says.
 */
function ownName(name: string, meta: Record<string, unknown> | undefined): string {
  const kept = meta?.[NAME_META];
  const own = typeof kept === 'object' && kept !== null ? (kept as { name?: unknown }).name : undefined;
  return typeof own === 'string' && !own.includes('/') && TOOL_NAME_RE.test(own) && name.endsWith(`/${own}`) ? own : name;
}

/** The top-level server.json fields an import reads. */
const SERVER_JSON_FIELDS = new Set([
  '$schema',
  'name',
  'title',
  'description',
  'version',
  'repository',
  'websiteUrl',
  'packages',
  'remotes',
  '_meta',
]);

/** The fields server.json spelt in snake_case until its 2025-09-16 schema, and their names since. */
const SNAKE_CASE_FIELDS: Record<string, string> = {
  registry_type: 'registryType',
  registry_base_url: 'registryBaseUrl',
  file_sha256: 'fileSha256',
  runtime_hint: 'runtimeHint',
  runtime_arguments: 'runtimeArguments',
  package_arguments: 'packageArguments',
  environment_variables: 'environmentVariables',
  is_required: 'isRequired',
  is_secret: 'isSecret',
  value_hint: 'valueHint',
  is_repeated: 'isRepeated',
  website_url: 'websiteUrl',
};

/**
 * A server.json from before 2025-09-16 (snake_case, still in repositories) read in today's
 * spelling, listing in `renamed` what was renamed. The keys of `variables` and `_meta` are names,
 * not fields, and are kept; a field given in both spellings keeps the camelCase one.
 */
function camelCaseFields(value: unknown, renamed: string[]): unknown {
  if (Array.isArray(value)) return value.map((v) => camelCaseFields(v, renamed));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value) as [string, unknown][]) {
    const named = key === 'variables' || key === '_meta';
    const field = Object.hasOwn(SNAKE_CASE_FIELDS, key) && !Object.hasOwn(value, SNAKE_CASE_FIELDS[key]) ? SNAKE_CASE_FIELDS[key] : key;
    if (field !== key) renamed.push(key);
    // An own property, as JSON.parse made it: `out.__proto__ = …` would set the prototype instead.
    Object.defineProperty(out, field, {
      enumerable: true,
      writable: true,
      configurable: true,
      value:
        named && typeof v === 'object' && v !== null && !Array.isArray(v)
          ? Object.fromEntries(
              Object.entries(v as Record<string, unknown>).map(([name, inner]) => [
                name,
                key === '_meta' ? inner : camelCaseFields(inner, renamed),
              ]),
            )
          : camelCaseFields(v, renamed),
    });
  }
  return out;
}

/** One server.json document; `at` is where it sits, for the errors' field paths. */
function parseOneServerJson(doc: unknown, at: string): ParsedImport {
  const out: ParsedImport = { entries: [], errors: [], notes: [] };
  const renamed: string[] = [];
  const parsed = serverJsonSchema.safeParse(camelCaseFields(doc, renamed));
  if (renamed.length) {
    const name = typeof (doc as { name?: unknown }).name === 'string' ? (doc as { name: string }).name : at;
    out.notes.push(`${name}: read the snake_case fields of a server.json from before 2025-09-16 (${[...new Set(renamed)].join(', ')})`);
  }
  if (!parsed.success) {
    out.errors.push(...issues(parsed.error, at));
    return out;
  }
  const s = parsed.data;
  const name = ownName(s.name, s._meta);
  // A tool has no place for the rest (icons, a registry's status): said, not dropped silently.
  const left = Object.keys(doc as object).filter((f) => !SERVER_JSON_FIELDS.has(f) && !Object.hasOwn(SNAKE_CASE_FIELDS, f));
  if (left.length) out.notes.push(`${name}: fields not imported: ${left.join(', ')}`);
  if (semver.valid(s.version) !== s.version) {
    out.errors.push({ field: `${at}.version`, message: `'${s.version}' is not a semantic version` });
    return out;
  }
  const stdioPackages = (s.packages ?? []).filter((p) => !p.transport || p.transport.type === 'stdio');
  const stdioPackage = stdioPackages.find((p) => isPackageRegistry(p.registryType));
  const packageAt = `${at}.packages.${stdioPackage ? s.packages!.indexOf(stdioPackage) : 0}`;
  let config: unknown;
  if (stdioPackage) {
    const release = packageRelease(stdioPackage, s.version, packageAt);
    if ('field' in release) {
      out.errors.push(release);
      return out;
    }
    if (release.assumed) out.notes.push(`${name}: the package gives no version; imported as ${release.version}, the server's`);
    // A package reference has no place for a file hash: said, so nobody counts on it being checked.
    if (stdioPackage.fileSha256 !== undefined) out.notes.push(`${name}: the package's fileSha256 was not imported (its version pins it)`);
    const env = (stdioPackage.environmentVariables ?? []).map((v) => declaration(v.name, v));
    const secretValues = (stdioPackage.environmentVariables ?? [])
      .filter((v, i) => (v.value ?? v.default) !== undefined && env[i].default === undefined)
      .map((v) => v.name);
    if (secretValues.length)
      out.notes.push(`${name}: values of secrets ${secretValues.join(', ')} were not imported (declared as variables)`);
    const { args: given, placeholders } = argumentsFromServerJson(stdioPackage.packageArguments ?? [], env);
    if (placeholders.length)
      out.notes.push(`${name}: arguments to fill in at launch became declared variables (${placeholders.join(', ')})`);
    const { args, scrubbed } = scrubCredentialArgs(given, env);
    if (scrubbed.length)
      out.notes.push(`${name}: credentials in the arguments were not imported (declared as secret variables: ${scrubbed.join(', ')})`);
    if (stdioPackage.runtimeArguments?.length)
      out.notes.push(
        `${name}: ${stdioPackage.runtimeArguments.length} runtime argument(s) for ${stdioPackage.runtimeHint ?? 'the runtime'} not imported (the runner is chosen by the package's registry type)`,
      );
    config = {
      type: 'stdio',
      package: { registry_type: stdioPackage.registryType, identifier: release.identifier, version: release.version },
      args,
      env,
    };
    const others = (s.packages?.length ?? 0) - 1 + (s.remotes?.length ?? 0);
    if (others > 0)
      out.notes.push(`${name}: imported the ${stdioPackage.registryType} package; ${others} other package(s)/remote(s) not imported`);
  } else if (stdioPackages.length && !s.remotes?.length) {
    out.errors.push({
      field: `${at}.packages`,
      message: `no package of a registry type the registry can launch (${PACKAGE_REGISTRIES.join(', ')}); found ${stdioPackages.map((p) => p.registryType).join(', ')}`,
    });
    return out;
  } else if (s.remotes?.length) {
    const { url, headers, variables } = remoteFromServerJson(name, s.remotes[0], out.notes);
    config = { type: s.remotes[0].type, url, headers, ...(variables.length ? { variables } : {}) };
    if (s.remotes.length > 1) out.notes.push(`${name}: imported the first remote; ${s.remotes.length - 1} other remote(s) not imported`);
  } else if (s._meta?.[COMMAND_META]) {
    // Our own export of a command-based server (server.json has no field for it).
    config = { type: 'stdio', ...s._meta[COMMAND_META] };
  } else {
    // A package reached over HTTP is a server started locally and then connected to, which a launch config cannot say.
    const overHttp = (s.packages ?? []).map((p) => p.transport?.type).filter((t) => t !== undefined && t !== 'stdio');
    out.errors.push(
      overHttp.length
        ? {
            field: `${at}.packages`,
            message: `its packages are reached over ${[...new Set(overHttp)].join(', ')} once started locally, which the registry cannot launch: give a stdio package or a remote`,
          }
        : { field: at, message: 'needs a stdio package or a remote' },
    );
    return out;
  }
  const cfg = launchConfigSchema.safeParse(config);
  if (!cfg.success) {
    // The package reference's fields sit on the file's package itself (its identifier, its version).
    out.errors.push(...(stdioPackage ? issues(cfg.error, packageAt, { from: 'package', to: [] }) : issues(cfg.error, `${at}.remotes.0`)));
    return out;
  }
  // The tool's metadata passes the rules a tool created through the API does (http(s) URLs without
  // credentials, no credential in the description), each problem named by its place in the file.
  const metadata = toolMetadataSchema.safeParse({
    display_name: s.title,
    description: s.description,
    repository_url: s.repository?.url,
    homepage_url: s.websiteUrl,
  });
  if (!metadata.success) {
    const where: Record<string, string> = {
      display_name: 'title',
      description: 'description',
      repository_url: 'repository.url',
      homepage_url: 'websiteUrl',
    };
    out.errors.push(...metadata.error.issues.map((i) => ({ field: `${at}.${where[String(i.path[0])]}`, message: i.message })));
    return out;
  }
  out.entries.push({
    name,
    display_name: metadata.data.display_name,
    description: metadata.data.description,
    version: s.version,
    repository_url: metadata.data.repository_url,
    homepage_url: metadata.data.homepage_url,
    config: cfg.data,
  });
  return out;
}

/**
 * A server.json, or a list of them under `servers` (what the export of every tool writes in this
 * format), each checked on its own and reported by its place in the list.
 */
export function parseServerJson(doc: Record<string, unknown>): ParsedImport {
  if (!Array.isArray(doc.servers)) return parseOneServerJson(doc, 'document');
  const out: ParsedImport = { entries: [], errors: [], notes: [] };
  if (!doc.servers.length) out.errors.push({ field: 'document.servers', message: 'contains no servers' });
  (doc.servers as unknown[]).forEach((one, i) => {
    const r = parseOneServerJson(one, `document.servers.${i}`);
    out.entries.push(...r.entries);
    out.errors.push(...r.errors);
    out.notes.push(...r.notes);
  });
  return out;
}

/** The variable a header to fill in is exported as in an mcpServers file: `X-Api-Key` → `X_API_KEY`. */
function headerVariable(header: string): string {
  return header.toUpperCase().replace(/-/g, '_');
}

/** `.mcp.json` / Claude Desktop entry for a version's config; variables become `${NAME}` placeholders. */
export function toMcpServerEntry(config: LaunchConfig): Record<string, unknown> {
  if (config.type === 'stdio') {
    const env = Object.fromEntries(config.env.map((e) => [e.name, e.default ?? `\${${e.name}}`]));
    const base = config.package
      ? packageCommand(
          config.package,
          config.env.map((e) => e.name),
        )
      : { command: config.command!, args: [] as string[] };
    return { command: base.command, args: [...base.args, ...config.args], ...(config.env.length ? { env } : {}) };
  }
  // Variables as the `${VAR}` / `${VAR:-default}` expansion such files use (read back by expandMcpServers).
  const expand = (template: string) =>
    fillUrlTemplate(template, (name) => {
      const v = config.variables?.find((x) => x.name === name);
      return v && `\${${name}${v.default !== undefined ? `:-${v.default}` : ''}}`;
    });
  const headers = Object.fromEntries(
    config.headers.map((h) => [h.name, h.value !== undefined ? expand(h.value) : (h.default ?? `\${${headerVariable(h.name)}}`)]),
  );
  return { type: config.type === 'sse' ? 'sse' : 'http', url: expand(config.url), ...(config.headers.length ? { headers } : {}) };
}

/** The command that runs a package; a container sees only the environment variables passed in with `-e`. */
function packageCommand(
  p: { registry_type: 'npm' | 'pypi' | 'oci'; identifier: string; version: string },
  env: string[],
): {
  command: string;
  args: string[];
} {
  switch (p.registry_type) {
    case 'npm':
      return { command: 'npx', args: ['-y', `${p.identifier}@${p.version}`] };
    case 'pypi':
      return { command: 'uvx', args: [`${p.identifier}==${p.version}`] };
    case 'oci':
      return {
        command: 'docker',
        args: ['run', '-i', '--rm', ...env.flatMap((name) => ['-e', name]), imageReference(p.identifier, p.version)],
      };
    default: {
      const unreachable: never = p.registry_type;
      return unreachable;
    }
  }
}

/**
 * A command-line string as a server.json positional argument. `${NAME}` of a declared variable
 * becomes server.json's `{NAME}` with NAME in `variables` (what the importer reads back as
 * `${NAME}`), so a value to fill in stays one in both formats.
 */
function argumentToServerJson(arg: string, env: EnvDeclaration[]): Record<string, unknown> {
  const variables: Record<string, unknown> = {};
  const value = arg.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => {
    const d = env.find((e) => e.name === name);
    if (!d) return whole;
    variables[name] = serverJsonInputOf(d);
    return `{${name}}`;
  });
  return { type: 'positional', value, ...(Object.keys(variables).length ? { variables } : {}) };
}

/**
 * The schema every export is written under: the latest the MCP registry has released. It documents
 * `remotes[].variables` (2025-12-11) and OCI packages named with their tag or digest and no
 * `version` (2025-10-11); an earlier file imports as well.
 */
export const SERVER_JSON_SCHEMA_URL = 'https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json';

/** server.json's `description` and `title` are 1–100 characters (its schema); the registry's may be longer. */
export const SERVER_JSON_TEXT_MAX = 100;

/** Text cut at the last word that fits server.json's 100 characters, with "…". */
function serverJsonText(text: string): string {
  if (text.length <= SERVER_JSON_TEXT_MAX) return text;
  const cut = text.slice(0, SERVER_JSON_TEXT_MAX - 1);
  const atWord = cut.lastIndexOf(' ');
  return `${(atWord > SERVER_JSON_TEXT_MAX / 2 ? cut.slice(0, atWord) : cut).trimEnd()}…`;
}

/**
 * A tool's description as server.json takes it: the display name or name when it has none, and a
 * longer one cut to fit, so the file passes the MCP registry's schema when published. Import keeps
 * a tool's own description (it does not update metadata).
 */
export function serverJsonDescription(tool: Pick<ToolView, 'name' | 'display_name' | 'description'>): string {
  return serverJsonText(tool.description.trim().replace(/\s+/g, ' ') || tool.display_name?.trim() || tool.name);
}

/** A declared variable, header or remote variable as server.json's `Input` fields. */
function serverJsonInputOf(d: { description?: string; required: boolean; secret: boolean; default?: string; choices?: string[] }) {
  return {
    ...(d.description ? { description: d.description } : {}),
    isRequired: d.required,
    isSecret: d.secret,
    ...(d.default !== undefined ? { default: d.default } : {}),
    ...(d.choices ? { choices: d.choices } : {}),
  };
}

/** Where a server.json keeps the name of a tool exported under a namespace it did not have (read back by import). */
const NAME_META = 'io.mcp-platform/name';

/**
 * An MCP registry server.json for a tool at a version. Its `name` is `namespace/name` (the
 * schema's pattern): a tool named without a namespace is exported under `namespace`, its own name
 * kept in `_meta` so that a re-import finds the same tool.
 */
export function toServerJson(
  tool: ToolView,
  version: string,
  config: LaunchConfig,
  namespace = DEFAULT_EXPORT_NAMESPACE,
): Record<string, unknown> {
  const namespaced = tool.name.includes('/');
  const base: Record<string, unknown> = {
    $schema: SERVER_JSON_SCHEMA_URL,
    name: namespaced ? tool.name : `${namespace}/${tool.name}`,
    ...(tool.display_name?.trim() ? { title: serverJsonText(tool.display_name.trim().replace(/\s+/g, ' ')) } : {}),
    description: serverJsonDescription(tool),
    version,
    ...(tool.repository_url
      ? { repository: { url: tool.repository_url, source: tool.repository_url.includes('github.com') ? 'github' : 'git' } }
      : {}),
    ...(tool.homepage_url ? { websiteUrl: tool.homepage_url } : {}),
    ...(namespaced ? {} : { _meta: { [NAME_META]: { name: tool.name } } }),
  };
  if (config.type === 'stdio') {
    if (config.package) {
      base.packages = [
        {
          registryType: config.package.registry_type,
          // An image is named with its tag or digest (server.json since 2025-10-11), a package beside its version.
          ...(config.package.registry_type === 'oci'
            ? { identifier: imageReference(config.package.identifier, config.package.version) }
            : { identifier: config.package.identifier, version: config.package.version }),
          transport: { type: 'stdio' },
          ...(config.args.length ? { packageArguments: config.args.map((arg) => argumentToServerJson(arg, config.env)) } : {}),
          ...(config.env.length
            ? {
                environmentVariables: config.env.map((e) => ({ name: e.name, ...serverJsonInputOf(e) })),
              }
            : {}),
        },
      ];
    } else {
      // server.json describes published packages; a bare command has no registry package.
      base._meta = {
        ...(base._meta as object | undefined),
        [COMMAND_META]: { command: config.command, args: config.args, env: config.env },
      };
    }
  } else {
    // server.json keeps a remote's URL variables beside its URL and each header's beside its value.
    const variablesOf = (template: string) => {
      const used = (config.variables ?? []).filter((v) => urlTemplateNames(template).includes(v.name));
      return used.length ? { variables: Object.fromEntries(used.map((v) => [v.name, serverJsonInputOf(v)])) } : {};
    };
    base.remotes = [
      {
        type: config.type,
        url: config.url,
        ...(config.headers.length
          ? {
              headers: config.headers.map((h) => ({
                name: h.name,
                ...serverJsonInputOf(h),
                ...(h.value !== undefined ? { value: h.value, ...variablesOf(h.value) } : {}),
              })),
            }
          : {}),
        ...variablesOf(config.url),
      },
    ];
  }
  return base;
}
