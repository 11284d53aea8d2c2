import { couldBeCredential, credentialInDefault, credentialsInArgs, findKnownCredential } from './credentials';
import { createToolSchema, launchConfigSchema, publishVersionSchema, RegistryRequests, updateToolSchema } from './registry';

// Built at run time so that no credential-shaped literal sits in the repository for scanners to flag.
const token = (prefix: string, body: string, times: number) => prefix + body.repeat(times);

describe('credentials in known formats', () => {
  it.each([
    [token('ghp_', 'a1B2', 9), 'a GitHub token', 'GITHUB_TOKEN'],
    [token('github_pat_', 'A1b2_', 6), 'a GitHub token', 'GITHUB_TOKEN'],
    [token('glpat-', 'x1Y2', 5), 'a GitLab token', 'GITLAB_TOKEN'],
    [token('sk-ant-api03-', 'Zz09', 10), 'an Anthropic API key', 'ANTHROPIC_API_KEY'],
    [token('sk-proj-', 'Ab12', 10), 'an OpenAI API key', 'OPENAI_API_KEY'],
    [token('sk-ak-', 'Ab12', 10), 'a secret API key (sk-…)', 'API_KEY'],
    [token('sk_live_', 'q1W2', 5), 'a Stripe key', 'STRIPE_API_KEY'],
    [token('AKIA', 'ABCD2345', 2), 'an AWS access key', 'AWS_ACCESS_KEY_ID'],
    [token('AIza', 'Sy0_', 9).slice(0, 39), 'a Google API key', 'GOOGLE_API_KEY'],
    [token('xoxb-', '1234-', 4), 'a Slack token', 'SLACK_TOKEN'],
    [token('npm_', 'aB3d', 9), 'an npm token', 'NPM_TOKEN'],
    [token('hf_', 'aBcD', 9), 'a Hugging Face token', 'HF_TOKEN'],
    ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXBhcnQ', 'a JSON Web Token', 'TOKEN'],
    ['-----BEGIN OPENSSH PRIVATE KEY-----', 'a private key', 'PRIVATE_KEY'],
  ])('finds %s', (value, what, variable) => {
    expect(findKnownCredential(`x=${value}`)).toMatchObject({ what, variable, start: 2, end: 2 + value.length });
  });

  it('marks only the secret part of an Authorization value', () => {
    const header = 'Authorization: Bearer abcdefghij0123456789';
    const found = findKnownCredential(header)!;
    expect(header.slice(found.start, found.end)).toBe('abcdefghij0123456789');
    expect(findKnownCredential('Authorization: Bearer ${AUTH_TOKEN}')).toBeUndefined();
    expect(findKnownCredential('authorization: BEARER abcdefghij0123456789')).toMatchObject({ what: 'a bearer token' });
  });

  it.each([
    '@modelcontextprotocol/server-github',
    'task-runner-with-a-very-long-name-indeed-yes',
    'skeleton',
    '8f14e45f-ceea-467f-a0e6-7fbb6b2f6b63',
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    'ghp_short',
    'https://github.com/ghp-tools/server',
  ])('does not take %s for one', (value) => {
    expect(findKnownCredential(value)).toBeUndefined();
  });
});

describe('credentials on a command line', () => {
  it('refuses the values of credential flags and known formats, each at its index with the placeholder to use', () => {
    const gh = token('ghp_', 'a1B2', 9);
    expect(
      credentialsInArgs(['--api-key', 'my-0wn-s3cret', '--token=abc123', '--header', `Authorization: Bearer ${'z'.repeat(20)}`, gh]),
    ).toEqual([
      {
        path: ['args', 1],
        message: expect.stringMatching(
          /^is the value of --api-key: a version never stores a credential; write \$\{API_KEY\} instead and declare API_KEY in env as a secret$/,
        ),
      },
      { path: ['args', 2], message: expect.stringMatching(/^is the value of --token: .*write --token=\$\{TOKEN\} instead/) },
      { path: ['args', 4], message: expect.stringMatching(/^contains what looks like a bearer token: .*\$\{AUTH_TOKEN\}/) },
      { path: ['args', 5], message: expect.stringMatching(/^contains what looks like a GitHub token: .*\$\{GITHUB_TOKEN\}/) },
    ]);
    expect(credentialsInArgs(['--header', 'X-API-Key: abcd1234efgh'])).toEqual([
      {
        path: ['args', 1],
        message: expect.stringMatching(
          /^gives the X-API-Key header its value: .*write X-API-Key: \$\{X_API_KEY\} instead and declare X_API_KEY/,
        ),
      },
    ]);
    // camelCase names are split into words like the others.
    expect(credentialsInArgs(['--apiKey', 'abc123xyz', '--tokenLimit', '1000'])).toEqual([
      { path: ['args', 1], message: expect.stringMatching(/^is the value of --apiKey: .*write \$\{API_KEY\} instead/) },
    ]);
    // A flag's value in a known format is reported once, by its format.
    expect(credentialsInArgs(['--github-token', gh])).toEqual([{ path: ['args', 1], message: expect.stringMatching(/GitHub token/) }]);
  });

  it('passes values that are not credentials, even beside a credential-like name', () => {
    expect(
      credentialsInArgs([
        '--token-limit',
        '1000',
        '--key-file',
        './key.pem',
        '--credentials',
        '/etc/creds.json',
        '--auth',
        'none',
        '--api-key',
        '${API_KEY}',
        '--password',
        '--verbose',
        '--token=',
        '--key',
        'user:1234',
        '--header',
        'X-API-Key: ${API_KEY}',
        '--header',
        'Accept: application/json',
        'https://mcp.example.com/sse',
        '--token',
      ]),
    ).toEqual([]);
  });

  it('tells placeholders, paths, URLs and short words from possible credentials', () => {
    for (const v of [
      '${X}',
      'Bearer ${X}',
      '/run/secrets/k',
      '~/k',
      'C:\\keys\\k',
      'creds.json',
      'https://auth.example.com',
      'oauth',
      'X-Api-Key',
    ])
      expect({ v, could: couldBeCredential(v) }).toEqual({ v, could: false });
    for (const v of ['hunter2', 'my-0wn-s3cret', 'abc123', '1234', 'dG9rZW4=', 'a-very-long-lowercase-password'])
      expect({ v, could: couldBeCredential(v) }).toEqual({ v, could: true });
  });
});

describe('credentials in declared defaults and URLs', () => {
  it('refuses a default that is a credential, by format or by the name it is given to', () => {
    expect(credentialInDefault('OPENAI_API_KEY', 'sk-test-123')).toMatch(
      /^is a value of OPENAI_API_KEY: a version never stores a credential; declare OPENAI_API_KEY as secret, without a default$/,
    );
    expect(credentialInDefault('LOG_LEVEL', token('ghp_', 'a1B2', 9))).toMatch(/^looks like a GitHub token/);
    expect(credentialInDefault('API_KEY_HEADER', 'X-Api-Key')).toBeUndefined();
    expect(credentialInDefault('TOKEN_LIMIT', '4096')).toBeUndefined();
    expect(credentialInDefault('AUTH_MODE', 'oauth')).toBeUndefined();
  });

  it('refuses a remote URL with a known credential in its path or query', () => {
    const parsed = launchConfigSchema.safeParse({ type: 'sse', url: `https://hooks.example.com/${token('xoxb-', '1234-', 4)}/sse` });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues).toEqual([
      expect.objectContaining({ path: ['url'], message: 'must not contain credentials (a Slack token; declare a header instead)' }),
    ]);
    expect(
      launchConfigSchema.safeParse({ type: 'sse', url: 'https://mcp.example.com/8f14e45f-ceea-467f-a0e6-7fbb6b2f6b63/sse' }).success,
    ).toBe(true);
  });
});

describe('credentials in text every reader sees', () => {
  const gh = token('ghp_', 'a1B2', 9);
  const issues = (r: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }) =>
    r.success ? [] : r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);

  it('refuses a known-format token in descriptions, changelogs, manifests and reasons, naming the field', () => {
    const found = 'contains what looks like a GitHub token: everyone who may read the tool would see it; take it out (and revoke it)';
    expect(issues(createToolSchema.safeParse({ name: 'x', description: `key: ${gh}` }))).toEqual([`description: ${found}`]);
    expect(issues(updateToolSchema.safeParse({ display_name: gh }))).toEqual([`display_name: ${found}`]);
    const config = { type: 'stdio', command: 'x', env: [{ name: 'GITHUB_TOKEN', description: `like ${gh}`, secret: true }] };
    expect(
      issues(
        publishVersionSchema.safeParse({
          version: '1.0.0',
          changelog: gh,
          config,
          manifest: { tools: [{ name: 't', description: gh, input_schema: { type: 'object', examples: [{ token: gh }] } }] },
        }),
      ),
    ).toEqual([
      `changelog: ${found}`,
      `config.env.0.description: ${found}`,
      `manifest.tools.0.description: ${found}`,
      `manifest.tools.0.input_schema: ${found}`,
    ]);
    expect(issues(RegistryRequests.yank.safeParse({ tool_id: 't', version: '1.0.0', reason: `leaked ${gh}` }))).toEqual([
      `reason: ${found}`,
    ]);
  });

  it('lets ordinary text through, credential words included', () => {
    expect(
      issues(
        createToolSchema.safeParse({
          name: 'x',
          description: 'Needs GITHUB_TOKEN (a ghp_… token) with repo scope; see https://github.com/settings/tokens',
        }),
      ),
    ).toEqual([]);
  });
});
