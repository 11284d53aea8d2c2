import {
  buildsCredentialFromVariables,
  credentialInDefault,
  findKnownCredential,
  holdsCredential,
  isCredentialName,
  isRemoteTemplate,
  URL_VARIABLE_VALUE_RE,
  variableNameFor,
  type RemoteVariable,
} from '#contracts';

/**
 * What imports need to turn a remote's URL and header values from a file into the registry's
 * templates over declared variables (`{name}`), with every credential in them taken out.
 */

/** A remote's variables as an import declares them, each once (a later use may make one secret, never less). */
export class RemoteVariables {
  readonly list: RemoteVariable[] = [];

  /** `{name}`, with name declared: required unless it keeps a default (never for a secret). */
  declare(name: string, secret: boolean, fields: Omit<Partial<RemoteVariable>, 'name' | 'secret'> = {}): string {
    const known = this.list.find((v) => v.name === name);
    if (known) {
      if (secret && !known.secret) {
        // A value that turned out to be a credential keeps nothing in plain text.
        known.secret = known.required = true;
        delete known.default;
        delete known.choices;
      }
    } else {
      const keep = (value: string) => !secret && URL_VARIABLE_VALUE_RE.test(value) && !credentialInDefault(name, value);
      const fallback = fields.default !== undefined && keep(fields.default) ? fields.default : undefined;
      const choices = fields.choices?.length && fields.choices.every(keep) ? fields.choices : undefined;
      this.list.push({
        name,
        ...(fields.description ? { description: fields.description } : {}),
        required: fields.required ?? fallback === undefined,
        secret,
        ...(fallback !== undefined ? { default: fallback } : {}),
        ...(choices ? { choices } : {}),
      });
    }
    return `{${name}}`;
  }

  /** Runs `attempt`; when it gives up (undefined), what it declared is taken back. */
  tentatively<T>(attempt: () => T | undefined): T | undefined {
    const saved = structuredClone(this.list);
    const result = attempt();
    if (result === undefined) this.list.splice(0, this.list.length, ...saved);
    return result;
  }
}

/** Tokens of a known format in a URL or header value, each replaced by a secret variable named for it. */
function scrubKnown(text: string, variables: RemoteVariables, scrubbed: string[]): string {
  let out = text;
  for (let known = findKnownCredential(out); known; known = findKnownCredential(out)) {
    scrubbed.push(`${known.what} → {${known.variable}}`);
    out = out.slice(0, known.start) + variables.declare(known.variable, true) + out.slice(known.end);
  }
  return out;
}

/**
 * A credential written into a URL — the value of a credential-named query parameter (`?api_key=…`,
 * `?exaApiKey=…`) or a token of a known format anywhere (a key in the path, as Zapier's URLs have)
 * — becomes a secret variable, so an import takes the server without its key instead of failing
 * on it. A parameter already given as `{NAME}` makes NAME secret.
 */
export function scrubUrl(url: string, variables: RemoteVariables, scrubbed: string[]): string {
  // Query parameters are rewritten in the raw text, so the rest of the URL stays as written.
  const out = url.replace(/([?&])([^=&#]+)=([^&#]*)/g, (whole, lead: string, key: string, value: string) => {
    if (!isCredentialName(safeDecode(key)) || value === '') return whole;
    const placeholder = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(value);
    if (placeholder) {
      variables.declare(placeholder[1], true);
      return whole;
    }
    const name = variableNameFor(safeDecode(key));
    scrubbed.push(`${safeDecode(key)} → {${name}}`);
    return `${lead}${key}=${variables.declare(name, true)}`;
  });
  return scrubKnown(out, variables, scrubbed);
}

/**
 * A header's value as the registry may keep it, or undefined when it would keep a credential (the
 * caller takes back what it declared: RemoteVariables.tentatively):
 * tokens of a known format become secret variables (`Bearer ghp_…` → `Bearer {GITHUB_TOKEN}`), and
 * a credential's header keeps its value only when it is built from variables beside at most a
 * scheme word (`Bearer {TOKEN}`); `X-API-Key: abc123` is dropped, the header declared instead.
 */
export function headerValue(
  name: string,
  secret: boolean,
  value: string,
  variables: RemoteVariables,
  scrubbed: string[],
): string | undefined {
  const scrubbedNow: string[] = [];
  const out = scrubKnown(value, variables, scrubbedNow);
  // `$` before a variable (`$${A}` expanded) reads as `${`, which a template cannot hold.
  if (!isRemoteTemplate(out)) return undefined;
  if ((secret || holdsCredential(name)) && !buildsCredentialFromVariables(out)) return undefined;
  scrubbed.push(...scrubbedNow);
  return out;
}

/**
 * `${VAR}` and `${VAR:-default}` (the expansion Claude Code applies to a `.mcp.json` entry's `url`
 * and `headers`; Cursor and VS Code write `${env:VAR}`, VS Code `${input:id}`) as `{VAR}`, VAR a
 * declared variable (secret when `secret(VAR)`; `-` in an id becomes `_`).
 */
export function expandMcpServers(
  text: string,
  variables: RemoteVariables,
  expanded: string[],
  secret: (name: string) => boolean,
  inputs: EditorInputs = new Map(),
): string {
  return text.replace(EXPANSION_RE, (whole, prefix: string | undefined, id: string, fallback?: string) => {
    const name = id.replace(/-/g, '_');
    // VS Code's input declares what it asks for: a description, and `password` for a secret.
    const input = prefix === 'input:' ? inputs.get(id) : undefined;
    expanded.push(`${whole.replace(/:-.*\}$/, '}')} → {${name}}`);
    return variables.declare(name, secret(name) || input?.secret === true, {
      ...(input?.description ? { description: input.description } : {}),
      ...(fallback !== undefined ? { default: fallback } : {}),
    });
  });
}

/** VS Code's `inputs` (what `${input:id}` asks the user for), by id. */
export type EditorInputs = Map<string, { description?: string; secret: boolean }>;

export function editorInputs(doc: Record<string, unknown>): EditorInputs {
  const list = Array.isArray(doc.inputs) ? (doc.inputs as unknown[]) : [];
  return new Map(
    list
      .filter((i): i is Record<string, unknown> => typeof i === 'object' && i !== null && typeof (i as { id?: unknown }).id === 'string')
      .map((i) => [
        i.id as string,
        { description: typeof i.description === 'string' ? i.description : undefined, secret: i.password === true },
      ]),
  );
}

/** `${VAR}`, `${VAR:-default}`, `${env:VAR}` or `${input:id}` as `.mcp.json` files write a value to fill in. */
const EXPANSION = String.raw`\$\{(env:|input:)?([A-Za-z_][A-Za-z0-9_-]*)(?::-([^}]*))?\}`;
const EXPANSION_RE = new RegExp(EXPANSION, 'g');
/** The same, to split a text at expansions (kept, at odd places) without capturing their parts. */
const EXPANSION_SPLIT_RE = new RegExp(`(${EXPANSION.replace(/\((?!\?)/g, '(?:')})`);

/**
 * Braces in a `.mcp.json` value that are not part of an expansion are text, where the registry's
 * templates read `{name}` as a variable: in a URL they are percent-encoded (as any URL parser
 * would, with a `$` right before an expansion), and a header value holding them cannot be kept as
 * a template (undefined).
 */
export function literalBraces(text: string, inUrl: boolean): string | undefined {
  const parts = text.split(EXPANSION_SPLIT_RE);
  if (!inUrl) return parts.some((p, i) => i % 2 === 0 && /[{}]/.test(p)) ? undefined : text;
  // A `$` right before an expansion (`$${A}`) would read as `${` once it is `{A}`: encoded too.
  return parts
    .map((p, i) =>
      i % 2 === 0
        ? p
            .replace(/\{/g, '%7B')
            .replace(/\}/g, '%7D')
            .replace(/\$$/, i < parts.length - 1 ? '%24' : '$')
        : p,
    )
    .join('');
}

/** A record's own entry: `{constructor}` in a template must not find Object.prototype's. */
export function ownEntry<T>(record: Record<string, T> | undefined, key: string): T | undefined {
  return record && Object.hasOwn(record, key) ? record[key] : undefined;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
