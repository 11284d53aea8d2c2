import { fillUrlTemplate, launchConfigSchema, urlTemplateNames } from './registry';

// Built at run time so that no credential-shaped literal sits in the repository for scanners to flag.
const zapierKey = `sk-ak-${'Ab12'.repeat(10)}`;

function problems(config: Record<string, unknown>): string[] {
  const parsed = launchConfigSchema.safeParse({ type: 'streamable-http', ...config });
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('remote variables', () => {
  it('accepts a template whose every {name} is declared, and keeps the declarations', () => {
    const config = {
      type: 'streamable-http',
      url: 'https://{tenant_id}.analytics.example.com/{region}/mcp',
      variables: [
        { name: 'tenant_id', description: 'Your tenant', required: true },
        { name: 'region', choices: ['us-east-1', 'eu-west-1'], default: 'eu-west-1' },
      ],
    };
    expect(launchConfigSchema.parse(config)).toEqual({
      ...config,
      headers: [],
      variables: [
        { name: 'tenant_id', description: 'Your tenant', required: true, secret: false },
        { name: 'region', choices: ['us-east-1', 'eu-west-1'], default: 'eu-west-1', required: false, secret: false },
      ],
    });
  });

  it('lets a key sit in the URL only as a secret variable (services that take no header)', () => {
    const secret = [{ name: 'key', required: true, secret: true }];
    expect(problems({ url: 'https://mcp.zapier.com/api/mcp/s/{key}/mcp', variables: secret })).toEqual([]);
    expect(problems({ url: 'https://api.example.com/mcp?api_key={key}', variables: secret })).toEqual([]);
    expect(problems({ url: 'https://api.example.com/mcp?api_key={key}', variables: [{ name: 'key' }] })).toEqual([
      "url: query parameter 'api_key' takes a credential: declare key secret (its value is never stored)",
    ]);
    expect(problems({ url: `https://mcp.zapier.com/api/mcp/s/${zapierKey}/mcp` })).toEqual([
      'url: must not contain credentials (a secret API key (sk-…); declare a header instead)',
    ]);
    // The same parameter given again with the key itself is still refused.
    expect(problems({ url: 'https://api.example.com/mcp?api_key={key}&api_key=abc123', variables: secret })).toEqual([
      "url: must not contain credentials (query parameter 'api_key'; declare a header instead)",
    ]);
    expect(problems({ url: 'https://api.example.com/mcp?api_key=abc123&region={r}', variables: [{ name: 'r' }] })).toEqual([
      "url: must not contain credentials (query parameter 'api_key'; declare a header instead)",
    ]);
  });

  it('names each mismatch between the URL and its declarations', () => {
    expect(problems({ url: 'https://{tenant}.example.com/{region}/mcp' })).toEqual([
      'url: uses {tenant}, {region}: declare each in variables (a part filled in at launch) or write the value itself',
    ]);
    expect(problems({ url: 'https://example.com/mcp', variables: [{ name: 'tenant' }] })).toEqual([
      "variables.0.name: is not used in url or a header's value: write {tenant} where its value goes",
    ]);
    expect(problems({ url: 'https://{t}.example.com/mcp', variables: [{ name: 't' }, { name: 't' }] })).toEqual([
      'variables.1.name: declares t twice',
    ]);
    expect(problems({ url: 'https://example.com/${TENANT}/mcp', variables: [{ name: 'TENANT' }] })).toEqual([
      'url: write a value filled in at launch as {NAME}, not ${NAME}, and declare NAME in variables',
    ]);
    expect(problems({ url: 'https://{user}@example.com/mcp', variables: [{ name: 'user' }] })).toEqual([
      'url: must not contain credentials (declare a header instead)',
    ]);
    expect(problems({ url: '{scheme}://example.com/mcp', variables: [{ name: 'scheme', default: 'ftp' }] })).toEqual([
      'url: must use http or https',
    ]);
    expect(problems({ url: 'https://example.com:{port}/mcp', variables: [{ name: 'port' }] })).toEqual([
      "url: must be a valid URL once its variables are filled in (each with its default, first choice or 'x')",
    ]);
    expect(problems({ url: 'https://example.com:{port}/mcp', variables: [{ name: 'port', default: '8443' }] })).toEqual([]);
    expect(problems({ url: 'not a url' })).toEqual(['url: must be a valid URL']);
    expect(problems({ url: 'https://example.com/{tenant-id}/mcp' })).toEqual([
      "url: has {tenant-id}: a variable is written {name}, its name of letters, digits and '_' (declared in variables)",
    ]);
  });

  it('checks each declaration: values fit in a URL, secrets keep nothing, defaults are among the choices', () => {
    const one = (v: Record<string, unknown>) => problems({ url: 'https://example.com/{v}/mcp', variables: [{ name: 'v', ...v }] });
    expect(one({ default: 'a/b' })).toEqual([
      "variables.0.default: may hold only letters, digits, '.', '_', '~' and '-' (it goes into the URL as written)",
    ]);
    expect(one({ secret: true, default: 'x' })).toEqual(['variables.0.default: a secret variable cannot have a default value']);
    expect(one({ secret: true, choices: ['a'] })).toEqual(['variables.0.choices: a secret variable cannot list choices']);
    expect(one({ choices: ['a', 'b'], default: 'c' })).toEqual(['variables.0.default: must be one of the choices']);
    expect(one({ choices: ['a', 'a'] })).toEqual(['variables.0.choices: lists a choice twice']);
    expect(problems({ url: 'https://example.com/{1x}/mcp', variables: [{ name: '1x' }] })[0]).toMatch(
      /^variables\.0\.name: must be a variable name/,
    );
  });

  it('builds header values from variables: a credential only from secret ones, beside at most a scheme word', () => {
    const token = [{ name: 'token', required: true, secret: true }];
    const auth = (value: string, variables: Record<string, unknown>[] = token, extra: Record<string, unknown> = {}) =>
      problems({ url: 'https://mcp.example.com/mcp', headers: [{ name: 'Authorization', value, ...extra }], variables });
    expect(auth('Bearer {token}')).toEqual([]);
    expect(auth('{token}')).toEqual([]);
    expect(
      problems({
        url: 'https://mcp.example.com/mcp',
        headers: [
          { name: 'Accept', value: 'application/json' },
          { name: 'X-Region', value: 'eu-{zone}' },
        ],
        variables: [{ name: 'zone', default: 'west' }],
      }),
    ).toEqual([]);
    const stores = 'would store a credential in the Authorization header: build it from a secret variable instead';
    expect(auth('Bearer abc123', [])[0]).toBe(`headers.0.value: ${stores}, e.g. Bearer {token} with token declared secret in variables`);
    expect(auth('none', [])[0]).toMatch(/^headers\.0\.value: would store a credential/);
    expect(auth('Bearer abc{token}')[0]).toMatch(/^headers\.0\.value: would store a credential/);
    expect(problems({ url: 'https://x.example/mcp', headers: [{ name: 'X-Tenant', secret: true, value: 'acme' }] })[0]).toMatch(
      /^headers\.0\.value: would store a credential in the X-Tenant header/,
    );
    expect(auth('Bearer {token}', [{ name: 'token' }])).toEqual([
      'headers.0.value: gives the Authorization header {token}: declare token secret (its value is never stored)',
    ]);
    expect(auth('Bearer {tok}')).toEqual([
      'headers.0.value: uses {tok}: declare it in variables (a part filled in at launch) or write the value itself',
      "variables.0.name: is not used in url or a header's value: write {token} where its value goes",
    ]);
    expect(auth(`Bearer ${'ghp_' + 'a1B2'.repeat(9)}`, [])).toEqual([
      'headers.0.value: contains what looks like a GitHub token: a version never stores a credential; write {GITHUB_TOKEN} in its place and declare GITHUB_TOKEN in variables as a secret',
    ]);
    expect(auth('Bearer {token}', token, { default: 'x' })).toEqual(['headers.0.value: give a value or a default, not both']);
    expect(
      problems({ url: 'https://x.example/mcp', headers: [{ name: 'X-Config', value: '{"a":{v}}' }], variables: [{ name: 'v' }] }),
    ).toEqual([
      'headers.0.value: has a brace that is not part of a {name}: braces mark variables here (in a URL, write %7B and %7D for them as text)',
    ]);
  });

  it('leaves configs without variables as they were (no field added, so content hashes hold)', () => {
    expect(launchConfigSchema.parse({ type: 'sse', url: 'https://example.com/sse' })).toEqual({
      type: 'sse',
      url: 'https://example.com/sse',
      headers: [],
    });
  });

  it('lists and fills a template', () => {
    expect(urlTemplateNames('https://{a}.x.com/{b}/{a}')).toEqual(['a', 'b']);
    expect(fillUrlTemplate('https://{a}.x.com/{b}', (n) => (n === 'a' ? 'eu' : undefined))).toBe('https://eu.x.com/{b}');
  });
});
