import { z } from 'zod';
import { packageProblems } from './packages';
import { credentialInDefault, credentialsInArgs, findKnownCredential, holdsCredential, isCredentialName } from './credentials';

/**
 * Registry payloads. Names follow the MCP registry's style: `server` or reverse-DNS
 * `io.github.owner/server` — letters, digits, ".", "_", "-", at most one "/".
 */
const SEGMENT = '[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?';
export const TOOL_NAME_RE = new RegExp(`^${SEGMENT}(?:/${SEGMENT})?$`);

export const toolNameSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(TOOL_NAME_RE, 'must be URL-safe: letters, digits, ".", "_", "-", optionally one "/" (e.g. io.github.owner/server)');

export const visibilitySchema = z.enum(['private', 'public']);
export const toolStatusSchema = z.enum(['active', 'deprecated']);

/**
 * What is wrong with an http(s) URL that could hold credentials, if anything: credentials in its
 * user part, a credential-named query parameter (unless `allowedParameters` takes it: a URL
 * template's parameter filled from a secret variable), a token of a known format anywhere. The
 * caller has checked that the URL parses.
 */
function urlCredentialProblem(u: string, allowedParameters: ReadonlySet<string> = new Set()): string | undefined {
  const url = new URL(u);
  if (!/^https?:$/.test(url.protocol)) return 'must use http or https';
  if (url.username || url.password) return 'must not contain credentials (declare a header instead)';
  const parameter = [...url.searchParams.keys()].find((name) => isCredentialName(name) && !allowedParameters.has(name));
  if (parameter) return `must not contain credentials (query parameter '${parameter}'; declare a header instead)`;
  const known = findKnownCredential(url.pathname + url.search + url.hash);
  if (known) return `must not contain credentials (${known.what}; declare a header instead)`;
  return undefined;
}

/**
 * An http(s) URL without credentials (urlCredentialProblem). zod runs these checks even after
 * `z.url()` has refused the string, so the URL is parsed here once and defensively: a `new URL()`
 * that throws inside a check is a 500 for the caller instead of this field's 400.
 */
const httpUrl = z
  .url({ message: 'must be a valid URL' })
  .max(2048)
  .superRefine((u, ctx) => {
    if (!URL.canParse(u)) return; // z.url() has said so
    const problem = urlCredentialProblem(u);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/**
 * Text that shows differently from what it holds: Unicode tag characters (U+E0000–U+E007F), which
 * spell ASCII no one sees but a model reads (the way hidden instructions are slipped into a tool's
 * description), and bidirectional embedding, override and isolate controls, which make text display
 * in another order than it is read. Zero-width joiners and direction marks are left: emoji and
 * right-to-left text use them.
 */
const HIDDEN_TEXT = /[\u{E0000}-\u{E007F}]|[\u202A-\u202E\u2066-\u2069]/u;

/** Where free text holds hidden text (HIDDEN_TEXT), and what it is, if it does. */
export function findHiddenText(text: string): { at: number; codePoint: string; what: string } | undefined {
  const m = HIDDEN_TEXT.exec(text);
  if (!m) return undefined;
  const cp = m[0].codePointAt(0)!;
  const codePoint = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return cp >= 0xe0000
    ? { at: m.index, codePoint, what: 'an invisible Unicode tag character: text a model reads and a person does not see' }
    : { at: m.index, codePoint, what: 'a bidirectional control: the text displays in another order than it is read' };
}

/**
 * Free text every reader of a tool sees (descriptions, changelogs, a yank's reason) may not hold a
 * credential in a known format — pasted into a public tool's changelog, a key is published to every
 * signed-in user — nor text hidden from the person reading it (findHiddenText), which MCP clients
 * hand to models as it is.
 */
function checkFreeText(text: string, ctx: z.RefinementCtx) {
  const known = findKnownCredential(text);
  if (known)
    ctx.addIssue({
      code: 'custom',
      message: `contains what looks like ${known.what}: everyone who may read the tool would see it; take it out (and revoke it)`,
    });
  const hidden = findHiddenText(text);
  if (hidden)
    ctx.addIssue({
      code: 'custom',
      message: `contains ${hidden.codePoint} (${hidden.what}) at character ${hidden.at}; take it out`,
    });
}

/** A declared default is stored in plain text, so it may not be a credential (credentials.ts). */
function defaultIsNoCredential(e: { name: string; default?: string }, ctx: z.RefinementCtx) {
  const problem = e.default === undefined ? undefined : credentialInDefault(e.name, e.default);
  if (problem) ctx.addIssue({ code: 'custom', message: problem, path: ['default'] });
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A variable the server needs. Only its declaration is stored — never a value of a secret. */
export const envDeclarationSchema = z
  .strictObject({
    name: z.string().max(200).regex(ENV_NAME, 'must be a valid environment variable name'),
    description: z.string().max(2000).superRefine(checkFreeText).optional(),
    required: z.boolean().default(false),
    secret: z.boolean().default(false),
    default: z.string().max(2000).optional(),
  })
  .refine((e) => !(e.secret && e.default !== undefined), { message: 'a secret variable cannot have a default value', path: ['default'] })
  .superRefine(defaultIsNoCredential);

export const headerDeclarationSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[A-Za-z0-9-]+$/, 'must be a valid HTTP header name'),
    description: z.string().max(2000).superRefine(checkFreeText).optional(),
    required: z.boolean().default(false),
    secret: z.boolean().default(false),
    default: z.string().max(2000).optional(),
    /** What to send, fixed or built from the remote's variables: `Bearer {token}` (checked with them: checkRemote). */
    value: z.string().min(1).max(2000).optional(),
  })
  .refine((e) => !(e.secret && e.default !== undefined), { message: 'a secret header cannot have a default value', path: ['default'] })
  .refine((e) => !(e.value !== undefined && e.default !== undefined), { message: 'give a value or a default, not both', path: ['value'] })
  .superRefine(defaultIsNoCredential);

/** One exact release of a package (packageProblems says why and what each registry takes). */
export const packageRefSchema = z
  .strictObject({
    registry_type: z.enum(['npm', 'pypi', 'oci']),
    identifier: z
      .string()
      .min(1)
      .max(300)
      .describe('npm: a package name (@scope/name); pypi: a project name; oci: an image without its tag (ghcr.io/owner/server)'),
    version: z
      .string()
      .min(1)
      .max(200)
      .describe('one exact release: npm an exact SemVer (1.4.2), pypi a PEP 440 version, oci a tag other than latest or a sha256: digest'),
  })
  .superRefine((p, ctx) => {
    for (const { path, message } of packageProblems(p)) ctx.addIssue({ code: 'custom', message, path: [path] });
  });

export const stdioConfigSchema = z
  .strictObject({
    type: z.literal('stdio'),
    package: packageRefSchema.optional(),
    command: z.string().min(1).max(500).optional(),
    args: z.array(z.string().max(2000)).max(100).default([]),
    env: z.array(envDeclarationSchema).max(100).default([]),
  })
  .refine((c) => (c.package === undefined) !== (c.command === undefined), {
    message: 'give either a package reference or a command (exactly one)',
    path: ['command'],
  })
  .superRefine((c, ctx) => {
    for (const p of credentialsInArgs(c.args)) ctx.addIssue({ code: 'custom', ...p });
    const known = c.command === undefined ? undefined : findKnownCredential(c.command);
    if (known)
      ctx.addIssue({
        code: 'custom',
        message: `contains what looks like ${known.what}; a version never stores a credential`,
        path: ['command'],
      });
  });

/** What a URL variable's default and choices may hold: they go into the URL as written. */
export const URL_VARIABLE_VALUE_RE = /^[A-Za-z0-9._~-]+$/;
const urlValue = z
  .string()
  .min(1)
  .max(200)
  .regex(URL_VARIABLE_VALUE_RE, "may hold only letters, digits, '.', '_', '~' and '-' (it goes into the URL as written)");

/**
 * A value whoever connects to a remote server fills in, used in its URL (server.json's
 * `remotes[].variables`: `https://{tenant}.example.com/mcp`, `https://mcp.example.com/s/{key}/mcp`)
 * or in a header's value (`Bearer {token}`). As with env variables and headers, only the
 * declaration is stored; a secret one (a key) has no default or choices.
 */
export const remoteVariableSchema = z
  .strictObject({
    name: z.string().max(100).regex(ENV_NAME, "must be a variable name: letters, digits and '_', not starting with a digit"),
    description: z.string().max(2000).superRefine(checkFreeText).optional(),
    required: z.boolean().default(false),
    secret: z.boolean().default(false),
    default: urlValue.optional(),
    choices: z.array(urlValue).min(1).max(50).optional(),
  })
  .refine((v) => !(v.secret && v.default !== undefined), { message: 'a secret variable cannot have a default value', path: ['default'] })
  .refine((v) => !(v.secret && v.choices !== undefined), { message: 'a secret variable cannot list choices', path: ['choices'] })
  .refine((v) => v.default === undefined || v.choices === undefined || v.choices.includes(v.default), {
    message: 'must be one of the choices',
    path: ['default'],
  })
  .refine((v) => v.choices === undefined || new Set(v.choices).size === v.choices.length, {
    message: 'lists a choice twice',
    path: ['choices'],
  })
  .superRefine(defaultIsNoCredential);
export type RemoteVariable = z.infer<typeof remoteVariableSchema>;

/** `{name}` in a URL template (server.json's form). */
const URL_PLACEHOLDER_RE = /\{([^{}]*)\}/g;

/** The variable names a URL template uses, each once, in order. */
export function urlTemplateNames(template: string): string[] {
  return [...new Set([...template.matchAll(URL_PLACEHOLDER_RE)].map((m) => m[1]))];
}

/** A URL template with each `{name}` replaced by `fill(name)`; unknown names stay as written. */
export function fillUrlTemplate(template: string, fill: (name: string) => string | undefined): string {
  return template.replace(URL_PLACEHOLDER_RE, (whole, name: string) => fill(name) ?? whole);
}

/** The raw query parameters of a template, as written: parsing the URL would encode the braces. */
function templateParameters(template: string): [string, string][] {
  return [...new URLSearchParams(/\?([^#]*)/.exec(template)?.[1] ?? '')];
}

/** What keeps a text from being a template: `${NAME}` (not the form), a `{name}` that is no variable's name, a stray brace. */
function templateFormProblem(text: string): string | undefined {
  if (/\$\{/.test(text)) return 'write a value filled in at launch as {NAME}, not ${NAME}, and declare NAME in variables';
  const odd = urlTemplateNames(text).find((n) => !ENV_NAME.test(n));
  if (odd !== undefined) return `has {${odd}}: a variable is written {name}, its name of letters, digits and '_' (declared in variables)`;
  if (/[{}]/.test(fillUrlTemplate(text, () => '')))
    return 'has a brace that is not part of a {name}: braces mark variables here (in a URL, write %7B and %7D for them as text)';
  return undefined;
}

/**
 * Whether a text can be kept as a template (templateFormProblem finds nothing): checkRemote
 * refuses anything else; an import keeps such a value out instead.
 */
export function isRemoteTemplate(text: string): boolean {
  return templateFormProblem(text) === undefined;
}

/** What is wrong with a template's form (templateFormProblem), or a `{name}` in it that is not declared. */
function placeholderProblem(template: string, declared: ReadonlyMap<string, RemoteVariable>): string | undefined {
  const form = templateFormProblem(template);
  if (form) return form;
  const undeclared = urlTemplateNames(template).filter((n) => !declared.has(n));
  if (undeclared.length)
    return `uses ${undeclared.map((n) => `{${n}}`).join(', ')}: declare ${undeclared.length > 1 ? 'each' : 'it'} in variables (a part filled in at launch) or write the value itself`;
  return undefined;
}

/**
 * A header's value: its `{name}`s are declared variables, it holds no token of a known format, and
 * a credential's header (`Authorization`, `X-API-Key`, or one marked secret) takes the credential
 * from secret variables only — at most a scheme word beside them (`Bearer {token}`), never a
 * fixed credential.
 */
function headerValueProblem(
  h: { name: string; secret: boolean; value: string },
  declared: ReadonlyMap<string, RemoteVariable>,
): string | undefined {
  const placeholders = placeholderProblem(h.value, declared);
  if (placeholders) return placeholders;
  const known = findKnownCredential(h.value);
  if (known)
    return `contains what looks like ${known.what}: a version never stores a credential; write {${known.variable}} in its place and declare ${known.variable} in variables as a secret`;
  if (!h.secret && !holdsCredential(h.name)) return undefined;
  const names = urlTemplateNames(h.value);
  const open = names.find((n) => !declared.get(n)?.secret);
  if (open !== undefined) return `gives the ${h.name} header {${open}}: declare ${open} secret (its value is never stored)`;
  if (!buildsCredentialFromVariables(h.value))
    return `would store a credential in the ${h.name} header: build it from a secret variable instead, e.g. Bearer {token} with token declared secret in variables`;
  return undefined;
}

/**
 * Whether a credential header's value takes the credential from variables: at least one `{name}`,
 * and beside them at most a scheme word (`Bearer {token}`, `{key}`), nothing that could be a
 * credential itself.
 */
export function buildsCredentialFromVariables(value: string): boolean {
  return urlTemplateNames(value).length > 0 && /^(?:[A-Za-z][A-Za-z0-9-]{0,30})?$/.test(fillUrlTemplate(value, () => '').trim());
}

/**
 * A remote's URL and header values with its variables: every `{name}` is declared and every
 * declaration used, and the URL is a valid http(s) URL without credentials once filled in (with
 * each variable's default, first choice or a sample value). A credential may sit in the URL or a
 * header's value only as a secret variable (`?api_key={key}`, `/s/{key}/mcp`, `Bearer {token}`),
 * so services that take their key only in the URL can be registered without storing the key.
 */
function checkRemote(
  c: { url: string; headers: { name: string; secret: boolean; value?: string }[]; variables?: RemoteVariable[] },
  ctx: z.RefinementCtx,
): void {
  const variables = c.variables ?? [];
  const issue = (message: string, path: (string | number)[] = ['url']) => ctx.addIssue({ code: 'custom', message, path });
  const declared = new Map(variables.map((v) => [v.name, v]));
  variables.forEach((v, i) => {
    if (variables.findIndex((w) => w.name === v.name) !== i) issue(`declares ${v.name} twice`, ['variables', i, 'name']);
  });
  const names = urlTemplateNames(c.url);
  const used = new Set(names);
  c.headers.forEach((h, i) => {
    if (h.value === undefined) return;
    for (const n of urlTemplateNames(h.value)) used.add(n);
    const problem = headerValueProblem({ ...h, value: h.value }, declared);
    if (problem) issue(problem, ['headers', i, 'value']);
  });
  variables.forEach((v, i) => {
    if (!used.has(v.name))
      issue(`is not used in url or a header's value: write {${v.name}} where its value goes`, ['variables', i, 'name']);
  });
  const placeholders = placeholderProblem(c.url, declared);
  if (placeholders) return issue(placeholders);
  const sample = fillUrlTemplate(c.url, (n) => declared.get(n)?.default ?? declared.get(n)?.choices?.[0] ?? 'x');
  if (!URL.canParse(sample))
    return issue(
      names.length
        ? "must be a valid URL once its variables are filled in (each with its default, first choice or 'x')"
        : 'must be a valid URL',
    );
  // A credential-named parameter is allowed only when every value it is given is a secret variable.
  const allowed = new Set<string>();
  const refused = new Set<string>();
  for (const [parameter, value] of templateParameters(c.url)) {
    if (!isCredentialName(parameter)) continue;
    const name = /^\{([^{}]+)\}$/.exec(value)?.[1];
    if (name !== undefined && !declared.get(name)?.secret)
      return issue(`query parameter '${parameter}' takes a credential: declare ${name} secret (its value is never stored)`);
    (name === undefined ? refused : allowed).add(parameter);
  }
  for (const parameter of refused) allowed.delete(parameter);
  const problem = urlCredentialProblem(sample, allowed);
  if (problem) issue(problem);
}

export const remoteConfigSchema = z
  .strictObject({
    type: z.enum(['streamable-http', 'sse']),
    url: z.string().min(1, 'must be a valid URL').max(2048),
    headers: z.array(headerDeclarationSchema).max(50).default([]),
    /** Optional (not defaulted), so a config without variables keeps the content hash it had before they existed. */
    variables: z.array(remoteVariableSchema).max(20).optional(),
  })
  .superRefine(checkRemote);

/**
 * How to launch or reach the server, validated per type. A discriminated union (not a plain one):
 * `type` picks the branch, so a bad config is answered with that branch's own problems
 * (`config.package.registry_type: …`) or with the accepted types, never a bare "Invalid input".
 */
export const launchConfigSchema = z.discriminatedUnion('type', [stdioConfigSchema, remoteConfigSchema]);
export type LaunchConfig = z.infer<typeof launchConfigSchema>;

/** A JSON Schema in a manifest: its descriptions, defaults and examples are read by every client that lists the tools. */
const manifestJsonSchema = z.record(z.string(), z.unknown()).superRefine((schema, ctx) => checkFreeText(JSON.stringify(schema), ctx));

/** MCP's tool annotations: hints a client shows or acts on (asking before a destructive call), a server's word, not a guarantee. */
export const toolAnnotationsSchema = z.strictObject({
  title: z.string().max(200).superRefine(checkFreeText).optional(),
  readOnlyHint: z.boolean().optional(),
  destructiveHint: z.boolean().optional(),
  idempotentHint: z.boolean().optional(),
  openWorldHint: z.boolean().optional(),
});
export type ToolAnnotations = z.infer<typeof toolAnnotationsSchema>;

/** MCP's spelling of the fields the API writes in snake_case, for the message of a tool pasted from a `tools/list` result. */
const MCP_SPELLINGS: Record<string, string> = { inputSchema: 'input_schema', outputSchema: 'output_schema' };

/** A tool as MCP's `tools/list` describes it (name, title, description, input and output schemas, annotations). */
export const manifestToolSchema = z.strictObject(
  {
    name: z.string().min(1).max(200),
    title: z.string().trim().min(1).max(200).superRefine(checkFreeText).optional(),
    description: z.string().max(10_000).superRefine(checkFreeText).optional(),
    input_schema: manifestJsonSchema,
    output_schema: manifestJsonSchema.optional(),
    annotations: toolAnnotationsSchema.optional(),
  },
  {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return undefined;
      const known = issue.keys.filter((k) => k in MCP_SPELLINGS);
      return known.length
        ? `unknown field ${issue.keys.join(', ')}: the API spells MCP's ${known.join(', ')} as ${known.map((k) => MCP_SPELLINGS[k]).join(', ')}`
        : undefined;
    },
  },
);
export const manifestSchema = z.strictObject({ tools: z.array(manifestToolSchema).max(1000) });
export type Manifest = z.infer<typeof manifestSchema>;

/** Tool metadata fields, without defaults (an update must only touch the fields it names). */
const toolMetadata = {
  display_name: z.string().trim().min(1).max(200).superRefine(checkFreeText),
  description: z.string().max(10_000).superRefine(checkFreeText),
  tags: z
    .array(
      z
        .string()
        .trim()
        .min(1)
        .max(50)
        .regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and "-"'),
    )
    .max(20),
  category: z.string().trim().max(100),
  homepage_url: httpUrl,
  repository_url: httpUrl,
  visibility: visibilitySchema,
};

export const createToolSchema = z.strictObject({
  name: toolNameSchema,
  display_name: toolMetadata.display_name.optional(),
  description: toolMetadata.description.default(''),
  tags: toolMetadata.tags.default([]),
  category: toolMetadata.category.optional(),
  homepage_url: toolMetadata.homepage_url.optional(),
  repository_url: toolMetadata.repository_url.optional(),
  visibility: toolMetadata.visibility.default('private'),
});
export type CreateToolInput = z.infer<typeof createToolSchema>;

export const updateToolSchema = z
  .strictObject({ name: toolNameSchema.describe('a new name (a rename): unique, 409 if taken'), ...toolMetadata, status: toolStatusSchema })
  .partial()
  .refine((v) => Object.keys(v).length > 0, { message: 'give at least one field to change' });
export type UpdateToolInput = z.infer<typeof updateToolSchema>;

/** The body of a transfer: who is to own the tool. */
export const transferToolSchema = z.strictObject({
  owner: z.string().trim().min(1).max(64).describe('the new owner: a user id, or a username'),
});

/**
 * The new owner as the gateway found them (it keeps the users): the registry checks the tool first
 * and only then the user, so a caller who may not change the tool learns nothing about users.
 */
export const transferTargetSchema = z.object({
  user_id: z.string().min(1).max(64),
  username: z.string().max(64),
  role: z.enum(['admin', 'maintainer', 'viewer']),
  disabled: z.boolean(),
});
export type TransferTarget = z.infer<typeof transferTargetSchema>;

export const publishVersionSchema = z.strictObject({
  version: z.string().min(1).max(100),
  changelog: z.string().max(20_000).superRefine(checkFreeText).default(''),
  config: launchConfigSchema,
  manifest: manifestSchema.optional(),
});
export type PublishVersionInput = z.infer<typeof publishVersionSchema>;

/** `page` (from 1) and `page_size` (at most 100) of every list. */
const pageFields = {
  page: z.coerce.number().int().min(1).default(1),
  page_size: z.coerce.number().int().min(1).max(100).default(20),
};
export const pageQuerySchema = z.strictObject(pageFields);
export type PageQuery = z.infer<typeof pageQuerySchema>;

export const listToolsQuerySchema = z.strictObject({
  ...pageFields,
  tag: z.string().max(50).optional(),
  owner: z.string().max(64).optional().describe("owner user id, or 'me'"),
  status: toolStatusSchema.optional(),
  name: z.string().min(1).max(200).optional().describe('exact name (as unique: case-insensitive), to find a tool by its name'),
  category: z.string().trim().min(1).max(100).optional().describe('exact category'),
  visibility: visibilitySchema.optional(),
  q: z
    .string()
    .max(200)
    .optional()
    .describe("text in the name, display name or description, or in the names, titles and descriptions of the latest version's tools"),
  provides: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe("servers whose latest version's manifest has a tool of exactly this name (e.g. read_file)"),
  sort: z.enum(['name', 'created', 'updated', '-name', '-created', '-updated']).default('name'),
  include_deleted: z
    .union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')])
    .optional()
    .describe('admins only'),
});
export type ListToolsQuery = z.infer<typeof listToolsQuerySchema>;

export const toolSchema = z.object({
  id: z.string(),
  name: z.string(),
  display_name: z.string().nullable(),
  description: z.string(),
  owner_id: z.string(),
  tags: z.array(z.string()),
  category: z.string().nullable(),
  homepage_url: z.string().nullable(),
  repository_url: z.string().nullable(),
  visibility: visibilitySchema,
  status: toolStatusSchema,
  latest_version: z.string().nullable(),
  pinned_version: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  deleted_at: z.string().nullable(),
});
export type ToolView = z.infer<typeof toolSchema>;

export const versionSchema = z.object({
  tool_id: z.string(),
  version: z.string(),
  changelog: z.string(),
  config: z.unknown(),
  manifest: z.unknown().nullable(),
  sha256: z.string(),
  yanked: z.boolean(),
  yank_reason: z.string().nullable(),
  is_latest: z.boolean(),
  published_by: z.string(),
  published_at: z.string(),
});
export type VersionView = Omit<z.infer<typeof versionSchema>, 'config' | 'manifest'> & { config: LaunchConfig; manifest: Manifest | null };

export const historyEntrySchema = z.object({
  id: z.string(),
  action: z.string(),
  actor_id: z.string().nullable(),
  at: z.string(),
  diff: z.unknown(),
  request_id: z
    .string()
    .nullable()
    .describe('the request that made the change, as in the X-Request-Id of its answer (null for older entries)'),
});

export const manifestToolChangeSchema = z.object({
  name: z.string(),
  description_changed: z.boolean(),
  schema_changed: z.boolean().describe('the input schema changed'),
  title_changed: z.boolean(),
  output_schema_changed: z.boolean(),
  annotations_changed: z.boolean(),
});
export const versionDiffSchema = z.object({
  from: z.string(),
  to: z.string(),
  config: z.object({ changed: z.boolean(), changes: z.array(z.object({ path: z.string(), from: z.unknown(), to: z.unknown() })) }),
  manifest: z.object({
    added: z.array(z.string()),
    removed: z.array(z.string()),
    changed: z.array(manifestToolChangeSchema),
  }),
  warnings: z
    .array(z.string())
    .describe(
      'tool definitions (descriptions, schemas, annotations) and launch settings that changed: review before trusting the new version',
    ),
});
export type VersionDiff = z.infer<typeof versionDiffSchema>;

const page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), total: z.number(), page: z.number(), page_size: z.number() });
export const toolPageSchema = page(toolSchema);
export const versionPageSchema = page(versionSchema);
export const historyPageSchema = page(historyEntrySchema);

const toolRef = z.strictObject({ tool_id: z.string().min(1).max(64) });

/**
 * A client's `Idempotency-Key` header (as Stripe and the IETF draft use it): any text of visible
 * ASCII characters and spaces, up to 255, unique per request the client means once (a UUID, say).
 */
export const idempotencyKeySchema = z
  .string()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .regex(/^[\x20-\x7e]+$/, 'must be visible ASCII characters and spaces only (a UUID, say)');
/** `idempotency_key`: the caller's Idempotency-Key; a repeat of a request that succeeded is answered as the first was, without doing it again. */
const idempotent = { idempotency_key: idempotencyKeySchema.optional() };
const versionRef = toolRef.extend({ version: z.string().min(1).max(100) });

/** Request schemas of the registry RPCs (the actor travels in the envelope's meta). */
export const RegistryRequests = {
  create: z.strictObject({ tool: createToolSchema, ...idempotent }),
  list: listToolsQuerySchema,
  get: toolRef,
  /** `if_match`: the caller's If-Match header; the change is made only if the tool is still as tagged. */
  update: toolRef.extend({ changes: updateToolSchema, if_match: z.string().max(2000).optional() }),
  delete: toolRef,
  restore: toolRef,
  /** `owner`: the caller's words (a user id or username); `target`: that user, or null when there is none. */
  transfer: toolRef.extend({
    owner: z.string().min(1).max(64),
    target: transferTargetSchema.nullable(),
    if_match: z.string().max(2000).optional(),
  }),
  history: toolRef.extend(pageFields),
  publish: toolRef.extend({ input: publishVersionSchema, ...idempotent }),
  versions: toolRef.extend(pageFields),
  version: versionRef,
  diff: toolRef.extend({ from: z.string().min(1).max(100), to: z.string().min(1).max(100) }),
  yank: versionRef.extend({ reason: z.string().trim().min(1, 'give a reason').max(2000).superRefine(checkFreeText) }),
  unyank: versionRef,
  pin: versionRef,
  unpin: toolRef,
};

export const importFormatSchema = z.enum(['mcp-servers', 'server-json']);
export type ImportFormat = z.infer<typeof importFormatSchema>;

export const importRequestSchema = z.strictObject({
  format: importFormatSchema.optional().describe('detected from the document when omitted'),
  document: z.record(z.string(), z.unknown()).describe('an mcpServers JSON (Claude Desktop, .mcp.json) or an MCP registry server.json'),
  dry_run: z.boolean().default(false).describe('report what would happen, write nothing'),
  visibility: visibilitySchema.default('private').describe('for tools the import creates'),
});
export type ImportRequest = z.infer<typeof importRequestSchema>;
/** The import RPC: the body, and the caller's Idempotency-Key (honoured for a real import; a dry run changes nothing anyway). */
export const importRpcRequestSchema = importRequestSchema.extend(idempotent);

export const importReportSchema = z.object({
  dry_run: z.boolean(),
  format: importFormatSchema,
  created: z.array(z.object({ name: z.string(), version: z.string(), tool_id: z.string().nullable() })),
  updated: z.array(
    z.object({
      name: z.string(),
      version: z.string(),
      tool_id: z.string(),
      warnings: z
        .array(z.string())
        .describe("what the version diff flags against the tool's latest version (another package or host, a new secret, …)"),
    }),
  ),
  skipped: z.array(z.object({ name: z.string(), reason: z.string() })),
  notes: z.array(z.string()).describe('what the import changed on the way in, e.g. secret values dropped'),
});
export type ImportReport = z.infer<typeof importReportSchema>;

/**
 * The namespace a server.json export gives a tool named without one: the MCP registry's names are
 * `namespace/name` (`io.github.alice/weather`), so `filesystem` is exported as `local/filesystem`
 * (or under the namespace asked for) and its own name kept in `_meta`, which import reads back.
 */
export const DEFAULT_EXPORT_NAMESPACE = 'local';
export const exportNamespaceSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(
    /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/,
    'must be a reverse-DNS namespace: letters, digits, "." and "-" (e.g. io.github.alice)',
  )
  .describe(`server.json only: the namespace of tools named without one (default "${DEFAULT_EXPORT_NAMESPACE}")`);

/** One tool's export in a format: its latest version, or the one named. */
export const exportRequestSchema = z.strictObject({
  format: importFormatSchema.default('mcp-servers'),
  namespace: exportNamespaceSchema.optional(),
  tool_id: z.string().min(1).max(64),
  version: z.string().min(1).max(100).optional().describe('a version, or "latest" (the default)'),
});

/**
 * A page of the export of every tool the caller can see, by name: the gateway streams the pages
 * into one document, so no reply (nor the gateway's memory) holds the whole registry.
 */
export const exportPageRequestSchema = z.strictObject({
  format: importFormatSchema.default('mcp-servers'),
  namespace: exportNamespaceSchema.optional(),
  after: z.string().min(1).max(200).optional().describe('the last name of the previous page'),
  limit: z.number().int().min(1).max(1000).default(500),
});
export const exportPageSchema = z.object({
  items: z.array(z.object({ name: z.string(), document: z.record(z.string(), z.unknown()) })),
  next_after: z.string().nullable().describe('give it as `after` for the next page; null on the last'),
});
export type ExportPage = z.infer<typeof exportPageSchema>;

/** The result of the last import of the watched config directory (MCP_CONFIG_WATCH_PATH). */
export const configStatusSchema = z.object({
  enabled: z.boolean(),
  path: z.string().nullable(),
  last_reload_at: z.string().nullable(),
  trigger: z.enum(['startup', 'watch', 'api']).nullable(),
  files: z.array(
    z.object({
      file: z.string(),
      status: z
        .enum(['imported', 'unchanged', 'invalid', 'removed'])
        .describe('removed: the file was imported before and is gone now; its tools stay (the report names them)'),
      report: importReportSchema.optional(),
      error: z.string().optional(),
    }),
  ),
});
export type ConfigStatus = z.infer<typeof configStatusSchema>;
