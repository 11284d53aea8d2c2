/**
 * Telling credentials apart from other values, so that none is stored in a version (the registry
 * keeps declarations of secrets, never their values). Two rules, both meant to refuse real
 * credentials without flagging ordinary values:
 * - a value in a format its issuer made recognisable (`ghp_…`, `sk-…`, `AKIA…`, a JWT, a private
 *   key block) is a credential wherever it appears;
 * - a value given to a name whose last word names a credential (`--api-key`, `GITHUB_TOKEN`,
 *   `Authorization`) is one unless it plainly is not (a `${NAME}` placeholder, a path, a URL, a
 *   short word like `none` or `oauth`). `--token-limit 1000` or `--key-file x.pem` give something
 *   else, so only the last word counts.
 */

const CREDENTIAL_WORDS =
  'api[-_]?key|apikey|key|token|access[-_]?token|secret|password|passwd|pwd|pat|credentials?|auth|authorization|bearer|cookie';

const CREDENTIAL_NAME_RE = new RegExp(`(^|[-_.])(${CREDENTIAL_WORDS})([-_.]|$)`, 'i');
const CREDENTIAL_HOLDER_RE = new RegExp(`(^|[-_.])(${CREDENTIAL_WORDS})$`, 'i');

/** `exaApiKey` → `exa_Api_Key`: camelCase words split like the others (query parameters and flags often use it). */
const words = (name: string) => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2');

/**
 * Whether a name says its value is a credential (`--api-key`, `access_token`, `GITHUB_PAT`,
 * `Authorization`, `exaApiKey`): a credential's word among its words (split at "-", "_", "." and
 * camelCase), so `PATH`, `--path` or `keyboard` are not taken for one. Used to flag declared
 * variables and headers secret, and for URL query parameters.
 */
export function isCredentialName(name: string): boolean {
  return CREDENTIAL_NAME_RE.test(words(name));
}

/** Whether a name's value is a credential: its last word is one (`GITHUB_TOKEN`, `apiKey`; not `TOKEN_LIMIT`). */
export function holdsCredential(name: string): boolean {
  return CREDENTIAL_HOLDER_RE.test(words(name));
}

/**
 * A credential format: what to call it in an error, a variable name for it, its pattern (group 1,
 * if any, is the secret part), and the fixed start every match has (a pattern, for the one-pass
 * prefilter of findKnownCredential).
 */
interface CredentialFormat {
  what: string;
  variable: string;
  re: RegExp;
  prefix: string;
}

/** Prefixes and shapes the issuers publish for secret scanning; each is long enough not to occur by chance. */
const KNOWN_FORMATS: CredentialFormat[] = [
  {
    what: 'a GitHub token',
    variable: 'GITHUB_TOKEN',
    re: /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})/,
    prefix: 'gh[pousr]_|github_pat_',
  },
  { what: 'a GitLab token', variable: 'GITLAB_TOKEN', re: /\bglpat-[A-Za-z0-9_-]{20,}/, prefix: 'glpat-' },
  { what: 'an Anthropic API key', variable: 'ANTHROPIC_API_KEY', re: /\bsk-ant-[A-Za-z0-9_-]{32,}/, prefix: 'sk-' },
  { what: 'an OpenAI API key', variable: 'OPENAI_API_KEY', re: /\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{32,}/, prefix: 'sk-' },
  // Many providers issue `sk-…` keys (OpenAI's older ones, DeepSeek, Zapier's `sk-ak-…`).
  { what: 'a secret API key (sk-…)', variable: 'API_KEY', re: /\bsk-[A-Za-z0-9_-]{32,}/, prefix: 'sk-' },
  { what: 'a Stripe key', variable: 'STRIPE_API_KEY', re: /\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}/, prefix: '[rs]k_(?:live|test)_' },
  { what: 'an AWS access key', variable: 'AWS_ACCESS_KEY_ID', re: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/, prefix: 'AKIA|ASIA' },
  { what: 'a Google API key', variable: 'GOOGLE_API_KEY', re: /\bAIza[0-9A-Za-z_-]{35}/, prefix: 'AIza' },
  { what: 'a Slack token', variable: 'SLACK_TOKEN', re: /\bxox[abposr]-[A-Za-z0-9-]{10,}/, prefix: 'xox[abposr]-' },
  { what: 'an npm token', variable: 'NPM_TOKEN', re: /\bnpm_[A-Za-z0-9]{36}\b/, prefix: 'npm_' },
  { what: 'a Hugging Face token', variable: 'HF_TOKEN', re: /\bhf_[A-Za-z0-9]{34,}/, prefix: 'hf_' },
  {
    what: 'a JSON Web Token',
    variable: 'TOKEN',
    re: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/,
    prefix: 'eyJ',
  },
  { what: 'a private key', variable: 'PRIVATE_KEY', re: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/, prefix: '-----BEGIN' },
  // `Authorization: Bearer abc…` on a command line (mcp-remote's --header); `Bearer ${TOKEN}` is fine.
  {
    what: 'a bearer token',
    variable: 'AUTH_TOKEN',
    re: /\b(?:Bearer|Basic)\s+([A-Za-z0-9._~+/-]{16,}=*)/i,
    // Case-insensitive like its pattern, in a prefilter that is not.
    prefix: '[Bb][Ee][Aa][Rr][Ee][Rr]|[Bb][Aa][Ss][Ii][Cc]',
  },
];

/** Every format's fixed start, in one pattern (each format's own pattern decides). */
const KNOWN_PREFIXES_RE = new RegExp([...new Set(KNOWN_FORMATS.map((f) => f.prefix))].join('|'));

export interface FoundCredential {
  /** What it looks like, for messages: "a GitHub token". */
  what: string;
  /** A variable name to hold it instead: GITHUB_TOKEN. */
  variable: string;
  /** Where the secret part starts and ends in the text. */
  start: number;
  end: number;
}

/** The first credential of a known format in `text`, if any. */
export function findKnownCredential(text: string): FoundCredential | undefined {
  // One pass for the formats' prefixes first: most text holds none, and a manifest's worth of it
  // would otherwise be scanned once per format.
  if (!KNOWN_PREFIXES_RE.test(text)) return undefined;
  for (const f of KNOWN_FORMATS) {
    const m = f.re.exec(text);
    if (!m) continue;
    const secret = m[1] ?? m[0];
    const start = m.index + m[0].lastIndexOf(secret);
    return { what: f.what, variable: f.variable, start, end: start + secret.length };
  }
  return undefined;
}

const PLACEHOLDER_RE = /\$\{[A-Za-z_][A-Za-z0-9_]*\}/;
const PATH_RE = /^(?:\/|\.{1,2}[\\/]|~[\\/]|[A-Za-z]:[\\/])|^[\w.-]+\.(?:json|pem|key|crt|cer|p12|pfx|txt|env|ya?ml|toml|ini|cfg|conf)$/i;
const URL_RE = /^[a-z][a-z0-9+.-]*:\/\//i;
const WORD_RE = /^[A-Za-z][A-Za-z-]{0,15}$/;

/**
 * Whether a value given to a credential's name could be the credential itself: anything but a
 * placeholder, a path, a URL or a short word (`none`, `oauth`, `stdin`, `X-Api-Key`).
 */
export function couldBeCredential(value: string): boolean {
  return !(value === '' || PLACEHOLDER_RE.test(value) || PATH_RE.test(value) || URL_RE.test(value) || WORD_RE.test(value));
}

/** `--api-key`, `target_dir`, `apiKey` → `API_KEY`, `TARGET_DIR`, `API_KEY`: a variable name for a value given under that label. */
export function variableNameFor(label: string): string {
  const name = words(label)
    .replace(/^-+/, '')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toUpperCase();
  return /^[A-Z_]/.test(name) ? name : `ARG_${name}`;
}

/**
 * A command-line flag (`--api-key`, `-token`) whose value is a credential. A bare `--key` is not
 * taken for one: CLIs use it for lookup keys as often as for secrets (a secret in a known format
 * is still found).
 */
function isCredentialFlag(arg: string): boolean {
  const name = arg.replace(/^-+/, '');
  return /^--?[A-Za-z]/.test(arg) && name.toLowerCase() !== 'key' && holdsCredential(name);
}

/**
 * `X-API-Key: abc123` on a command line (as mcp-remote's `--header` takes a header) when the header
 * names a credential and its value could be one; `start` is where the value begins.
 */
function credentialHeaderArg(arg: string): { name: string; start: number } | undefined {
  const m = /^([A-Za-z0-9-]+)\s*:\s*(.+)$/s.exec(arg);
  if (!m || !holdsCredential(m[1]) || !couldBeCredential(m[2])) return undefined;
  return { name: m[1], start: arg.length - m[2].length };
}

/** `--flag=value` split, or undefined for anything else. */
function inlineFlag(arg: string): { flag: string; value: string } | undefined {
  const m = /^(--?[^=\s]+)=(.*)$/s.exec(arg);
  return m ? { flag: m[1], value: m[2] } : undefined;
}

const NOT_STORED = 'a version never stores a credential';

/** A credential written into a command line: where it sits, what it is, and what should hold it. */
export interface ArgCredential {
  /** The argument, and the credential's place in it. */
  index: number;
  start: number;
  end: number;
  /** What it is, for notes: "a GitHub token", "X-API-Key", "--api-key". */
  label: string;
  /** The variable to hold it instead: GITHUB_TOKEN, X_API_KEY, API_KEY. */
  variable: string;
  /** Why a publish is refused, with the placeholder to write instead. */
  message: string;
}

/**
 * Every credential written into a command line: tokens of the known formats anywhere, the value of
 * a credential header (`X-API-Key: …`) in an argument with no such token, and the value of a
 * credential flag (`--api-key sk-…`, `--token=…`) not already found. The one rule behind both the
 * version schema's refusal (credentialsInArgs) and the import's scrubbing, in the order the import
 * declares their variables.
 */
export function argCredentials(args: readonly string[]): ArgCredential[] {
  const found: ArgCredential[] = [];
  const taken = new Set<number>();
  args.forEach((arg, index) => {
    // Each token found is masked (same length, so places hold) before looking for the next.
    let rest = arg;
    for (let known = findKnownCredential(rest); known; known = findKnownCredential(rest)) {
      const { what, variable, start, end } = known;
      found.push({
        index,
        start,
        end,
        label: what,
        variable,
        message: `contains what looks like ${what}: ${NOT_STORED}; write \${${variable}} in its place and declare ${variable} in env as a secret`,
      });
      rest = rest.slice(0, start) + '\0'.repeat(end - start) + rest.slice(end);
      taken.add(index);
    }
    const header = taken.has(index) ? undefined : credentialHeaderArg(arg);
    if (!header) return;
    const variable = variableNameFor(header.name);
    found.push({
      index,
      start: header.start,
      end: arg.length,
      label: header.name,
      variable,
      message: `gives the ${header.name} header its value: ${NOT_STORED}; write ${header.name}: \${${variable}} instead and declare ${variable} in env as a secret`,
    });
    taken.add(index);
  });
  args.forEach((arg, i) => {
    const inline = inlineFlag(arg);
    const flag = inline ? inline.flag : arg;
    const index = inline ? i : i + 1;
    const value = inline ? inline.value : args[index];
    if (
      taken.has(index) ||
      !isCredentialFlag(flag) ||
      value === undefined ||
      (!inline && value.startsWith('-')) ||
      !couldBeCredential(value)
    )
      return;
    const variable = variableNameFor(flag);
    found.push({
      index,
      start: inline ? arg.length - value.length : 0,
      end: args[index].length,
      label: flag,
      variable,
      message: `is the value of ${flag}: ${NOT_STORED}; write ${inline ? `${flag}=` : ''}\${${variable}} instead and declare ${variable} in env as a secret`,
    });
    taken.add(index);
  });
  return found;
}

export interface CredentialProblem {
  /** Path below the checked object (`['args', 3]`). */
  path: (string | number)[];
  message: string;
}

/** The version schema's check of `args`: one problem per argument holding a credential (argCredentials). */
export function credentialsInArgs(args: readonly string[]): CredentialProblem[] {
  const problems = new Map<number, string>();
  for (const c of argCredentials(args)) if (!problems.has(c.index)) problems.set(c.index, c.message);
  return [...problems].sort(([a], [b]) => a - b).map(([i, message]) => ({ path: ['args', i], message }));
}

/** A declared variable's or header's default that would keep a credential in plain text. */
export function credentialInDefault(name: string, value: string): string | undefined {
  const known = findKnownCredential(value);
  const what = known ? `looks like ${known.what}` : holdsCredential(name) && couldBeCredential(value) ? `is a value of ${name}` : undefined;
  return what && `${what}: ${NOT_STORED}; declare ${name} as secret, without a default`;
}
