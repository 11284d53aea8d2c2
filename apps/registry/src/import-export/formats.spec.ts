import { launchConfigSchema, type LaunchConfig } from '#contracts';
import { detectFormat, parseMcpServers, parseServerJson, serverJsonDescription, toMcpServerEntry, toServerJson } from './formats';

describe('launch config schema', () => {
  it.each([
    [{ type: 'stdio', command: 'npx', args: ['-y', 'x'] }, true],
    [{ type: 'stdio', package: { registry_type: 'pypi', identifier: 'mcp-server-time', version: '1.0.0' } }, true],
    [{ type: 'stdio', command: 'x', package: { registry_type: 'npm', identifier: 'x', version: '1' } }, false],
    [{ type: 'stdio' }, false],
    [
      { type: 'streamable-http', url: 'https://mcp.example.com/mcp', headers: [{ name: 'Authorization', secret: true, required: true }] },
      true,
    ],
    [{ type: 'sse', url: 'http://localhost:8080/sse' }, true],
    [{ type: 'sse', url: 'file:///etc/passwd' }, false],
    [{ type: 'sse', url: 'not a url' }, false],
    [{ type: 'sse', url: 'https://x.example/sse?apiKey=1' }, false],
    [{ type: 'sse', url: 'https://x.example/sse?path=/a&keyword=b&session=c' }, true],
    [{ type: 'streamable-http', url: 'https://u:p@example.com' }, false],
    [{ type: 'websocket', url: 'wss://example.com' }, false],
    [{ type: 'stdio', command: 'x', env: [{ name: 'API_KEY', secret: true, default: 'k' }] }, false],
    [{ type: 'stdio', command: 'x', env: [{ name: 'API_KEY', value: 'k' }] }, false],
    [{ type: 'stdio', command: 'x', env: [{ name: '1BAD' }] }, false],
  ])('%j valid: %s', (config, valid) => {
    expect(launchConfigSchema.safeParse(config).success).toBe(valid);
  });

  it('reports the problems of the branch its type chose, or the accepted types', () => {
    const problems = (config: unknown) => launchConfigSchema.safeParse(config).error?.issues.map((i) => [i.path.join('.'), i.message]);
    expect(problems({ type: 'websocket', url: 'wss://example.com' })).toEqual([
      ['type', "Invalid discriminator value. Expected 'stdio' | 'streamable-http' | 'sse'"],
    ]);
    expect(problems({ type: 'stdio', package: { registry: 'npm', identifier: 'x', version: '1' } })).toEqual([
      ['package.registry_type', expect.stringMatching(/expected one of "npm"\|"pypi"\|"oci"/)],
      ['package', 'Unrecognized key: "registry"'],
    ]);
    expect(problems({ type: 'sse', url: 'https://x.example/sse', headers: 'Authorization' })).toEqual([
      ['headers', expect.stringMatching(/expected array/)],
    ]);
  });
});

describe('mcpServers and server.json', () => {
  it('detects the format', () => {
    expect(detectFormat({ mcpServers: {} })).toBe('mcp-servers');
    expect(detectFormat({ name: 'x', packages: [] })).toBe('server-json');
    // VS Code's `servers` object; a `servers` list of server.json documents (the export of every tool).
    expect(detectFormat({ servers: {} })).toBe('mcp-servers');
    expect(detectFormat({ servers: [] })).toBe('server-json');
    expect(detectFormat({ servers: 'x' })).toBe(undefined);
    expect(detectFormat({ hello: 'world' })).toBeUndefined();
  });

  it('turns env values into declarations and reports what was dropped', () => {
    const r = parseMcpServers({ mcpServers: { gh: { command: 'docker', args: ['run'], env: { GITHUB_TOKEN: 'ghp_x', REGION: 'eu' } } } });
    expect(r.errors).toEqual([]);
    expect(r.entries[0].config).toEqual({
      type: 'stdio',
      command: 'docker',
      args: ['run'],
      env: [
        { name: 'GITHUB_TOKEN', required: true, secret: true },
        { name: 'REGION', required: true, secret: false },
      ],
    });
    expect(JSON.stringify(r.entries)).not.toContain('ghp_x');
    expect(r.notes[0]).toMatch(/GITHUB_TOKEN, REGION were not imported/);
  });

  it('keeps the default of an env value written ${NAME:-default}, unless the variable is secret or the default a credential', () => {
    const r = parseMcpServers({
      mcpServers: {
        agent: {
          command: 'node',
          args: ['server.js'],
          env: {
            AGENT_MODEL: '${AGENT_MODEL:-auto}',
            IDLE_MS: '0',
            API_KEY: '${API_KEY:-dev-key}',
            UPSTREAM: '${UPSTREAM:-' + 'ghp_' + 'a1B2'.repeat(9) + '}',
          },
        },
      },
    });
    expect(r.errors).toEqual([]);
    expect(r.entries[0].config).toMatchObject({
      env: [
        { name: 'AGENT_MODEL', required: false, secret: false, default: 'auto' },
        { name: 'IDLE_MS', required: true, secret: false },
        { name: 'API_KEY', required: true, secret: true },
        { name: 'UPSTREAM', required: true, secret: false },
      ],
    });
    expect(r.notes).toEqual([
      'agent: values of IDLE_MS, API_KEY, UPSTREAM were not imported (declared as required variables)',
      'agent: defaults of AGENT_MODEL kept from their ${NAME:-default}',
    ]);
    expect(JSON.stringify(r)).not.toMatch(/dev-key|ghp_/);
  });

  it('flags variables and headers as secret by whole words of their names', () => {
    const r = parseMcpServers({
      mcpServers: {
        s: { command: 'x', env: { PATH: '/bin', OPENAI_API_KEY: 'k', GITHUB_PAT: 'p', KEYBOARD_LAYOUT: 'us', DB_PASSWORD: 'pw' } },
        h: { type: 'http', url: 'https://x.example/mcp', headers: { Authorization: 'a', 'X-Api-Key': 'k', Accept: 'json', Cookie: 'c' } },
      },
    });
    const secrets = r.entries.flatMap((e) =>
      e.config.type === 'stdio' ? e.config.env.map((v) => [v.name, v.secret]) : e.config.headers.map((v) => [v.name, v.secret]),
    );
    expect(Object.fromEntries(secrets)).toEqual({
      PATH: false,
      OPENAI_API_KEY: true,
      GITHUB_PAT: true,
      KEYBOARD_LAYOUT: false,
      DB_PASSWORD: true,
      Authorization: true,
      'X-Api-Key': true,
      Accept: false,
      Cookie: true,
    });
  });

  it("takes an entry's description for a new tool and says which of a client's own fields it left", () => {
    const r = parseMcpServers({
      mcpServers: {
        kb: { command: 'python3', args: ['kb_server.py'], description: 'Pentest knowledge base', disabled: false, autoApprove: ['search'] },
        docs: { url: 'https://docs.example.com/mcp', type: 'http', timeout_ms: 10000 },
      },
    });
    expect(r.errors).toEqual([]);
    expect(r.entries.map((e) => [e.name, e.description])).toEqual([
      ['kb', 'Pentest knowledge base'],
      ['docs', undefined],
    ]);
    expect(r.notes).toEqual(['kb: fields not imported: disabled, autoApprove', 'docs: fields not imported: timeout_ms']);
    // Checked as the API checks a tool's description.
    expect(parseMcpServers({ mcpServers: { kb: { command: 'x', description: 7 } } }).errors).toEqual([
      { field: 'document.mcpServers.kb.description', message: 'Invalid input: expected string, received number' },
    ]);
  });

  it("reads Windsurf's serverUrl as a remote's URL, naming its problems by that field", () => {
    const r = parseMcpServers({
      mcpServers: {
        userjot: { serverUrl: 'https://api.userjot.com/v1/mcp', headers: { Authorization: 'Bearer ${env:USERJOT_API_TOKEN}' } },
        broken: { serverUrl: 'ftp://x.example' },
        odd: { serverUrl: 42 },
      },
    });
    expect(r.entries.map((e) => e.config)).toEqual([
      {
        type: 'streamable-http',
        url: 'https://api.userjot.com/v1/mcp',
        headers: [{ name: 'Authorization', required: true, secret: true, value: 'Bearer {USERJOT_API_TOKEN}' }],
        variables: [{ name: 'USERJOT_API_TOKEN', required: true, secret: true }],
      },
    ]);
    expect(r.errors).toEqual([
      { field: 'document.mcpServers.broken.serverUrl', message: 'must use http or https' },
      { field: 'document.mcpServers.odd.serverUrl', message: 'Invalid input: expected string, received number' },
    ]);
  });

  it('names every invalid entry', () => {
    const r = parseMcpServers({ mcpServers: { 'a b': { command: 'x' }, remote: { type: 'sse', url: 'ftp://x' }, empty: {} } });
    expect(r.errors.map((e) => e.field)).toEqual(expect.arrayContaining(['document.mcpServers.a b', 'document.mcpServers.remote.url']));
    expect(r.errors.some((e) => e.field.startsWith('document.mcpServers.empty'))).toBe(true);
  });

  it('declares credentials passed on the command line instead of storing them', () => {
    const r = parseMcpServers({
      mcpServers: {
        s: {
          command: 'server',
          args: ['--path', '/data', '--github-token', 'ghp_x', '--api-key=sk_y', '--token', '${TOKEN}', '--password', '--verbose'],
          env: { GITHUB_TOKEN: 'ghp_x' },
        },
      },
    });
    expect(r.entries[0].config).toEqual({
      type: 'stdio',
      command: 'server',
      args: [
        '--path',
        '/data',
        '--github-token',
        '${GITHUB_TOKEN}',
        '--api-key=${API_KEY}',
        '--token',
        '${TOKEN}',
        '--password',
        '--verbose',
      ],
      env: [
        { name: 'GITHUB_TOKEN', required: true, secret: true },
        { name: 'API_KEY', required: true, secret: true },
      ],
    });
    expect(JSON.stringify(r.entries)).not.toMatch(/ghp_x|sk_y/);
    expect(r.notes[1]).toMatch(
      /credentials on the command line were not imported \(declared as secret variables: --github-token → \$\{GITHUB_TOKEN\}, --api-key → \$\{API_KEY\}\)/,
    );
  });

  it('declares credentials of known formats wherever they sit, and keeps what only sits next to a credential name', () => {
    const gh = 'ghp_' + 'a1B2'.repeat(9);
    const bearer = 'z'.repeat(24);
    const r = parseMcpServers({
      mcpServers: {
        remote: {
          command: 'npx',
          args: [
            '-y',
            'mcp-remote',
            'https://mcp.example.com/sse',
            '--header',
            'X-Api-Key: k3y-1234-abcd',
            '--header',
            `Authorization: Bearer ${bearer}`,
            '--token-limit',
            '1000',
            '--auth',
            'oauth',
            gh,
          ],
        },
      },
    });
    expect(r.errors).toEqual([]);
    expect(r.entries[0].config).toEqual({
      type: 'stdio',
      command: 'npx',
      args: [
        '-y',
        'mcp-remote',
        'https://mcp.example.com/sse',
        '--header',
        'X-Api-Key: ${X_API_KEY}',
        '--header',
        'Authorization: Bearer ${AUTH_TOKEN}',
        '--token-limit',
        '1000',
        '--auth',
        'oauth',
        '${GITHUB_TOKEN}',
      ],
      env: [
        { name: 'X_API_KEY', required: true, secret: true },
        { name: 'AUTH_TOKEN', required: true, secret: true },
        { name: 'GITHUB_TOKEN', required: true, secret: true },
      ],
    });
    expect(JSON.stringify(r.entries)).not.toMatch(new RegExp(`${bearer}|${gh}|k3y-1234-abcd`));
    expect(r.notes).toEqual([
      expect.stringMatching(
        /declared as secret variables: X-Api-Key → \$\{X_API_KEY\}, a bearer token → \$\{AUTH_TOKEN\}, a GitHub token → \$\{GITHUB_TOKEN\}\)/,
      ),
    ]);
  });

  it('reads a remote entry without a type as streamable HTTP, and says so', () => {
    const r = parseMcpServers({
      mcpServers: { docs: { url: 'https://mcp.example.com/mcp' }, events: { type: 'sse', url: 'https://x.example/sse' } },
    });
    expect(r.errors).toEqual([]);
    expect(r.entries.map((e) => e.config)).toEqual([
      { type: 'streamable-http', url: 'https://mcp.example.com/mcp', headers: [] },
      { type: 'sse', url: 'https://x.example/sse', headers: [] },
    ]);
    expect(r.notes).toEqual([expect.stringMatching(/^docs: no type given; imported as streamable-http/)]);
  });

  it('takes a key out of a remote URL as a secret variable, and ${VAR} as a variable', () => {
    // Built at run time so that no credential-shaped literal sits in the repository for scanners to flag.
    const zapierKey = `sk-ak-${'Ab12'.repeat(10)}`;
    const r = parseMcpServers({
      mcpServers: {
        zapier: { type: 'http', url: `https://mcp.zapier.com/api/mcp/s/${zapierKey}/mcp` },
        exa: { type: 'http', url: 'https://mcp.exa.ai/mcp?exaApiKey=abc-123-def&tools=web_search' },
        tenant: { type: 'http', url: 'https://${TENANT}.example.com/${REGION:-eu}/mcp?access_token=${MY_TOKEN}' },
      },
    });
    expect(r.errors).toEqual([]);
    expect(r.entries.map((e) => e.config)).toEqual([
      {
        type: 'streamable-http',
        url: 'https://mcp.zapier.com/api/mcp/s/{API_KEY}/mcp',
        headers: [],
        variables: [{ name: 'API_KEY', required: true, secret: true }],
      },
      {
        type: 'streamable-http',
        url: 'https://mcp.exa.ai/mcp?exaApiKey={EXA_API_KEY}&tools=web_search',
        headers: [],
        variables: [{ name: 'EXA_API_KEY', required: true, secret: true }],
      },
      {
        type: 'streamable-http',
        url: 'https://{TENANT}.example.com/{REGION}/mcp?access_token={MY_TOKEN}',
        headers: [],
        variables: [
          { name: 'TENANT', required: true, secret: false },
          { name: 'REGION', required: false, secret: false, default: 'eu' },
          { name: 'MY_TOKEN', required: true, secret: true },
        ],
      },
    ]);
    expect(r.notes).toEqual([
      'zapier: credentials were not imported (declared as secret variables: a secret API key (sk-…) → {API_KEY})',
      'exa: credentials were not imported (declared as secret variables: exaApiKey → {EXA_API_KEY})',
      'tenant: parts filled in at launch became variables (${TENANT} → {TENANT}, ${REGION} → {REGION}, ${MY_TOKEN} → {MY_TOKEN})',
    ]);
    expect(JSON.stringify(r)).not.toContain(zapierKey);
    expect(JSON.stringify(r)).not.toContain('abc-123-def');
    // Exported back with the expansion such files use, and read back the same.
    const exported = r.entries.map((e) => toMcpServerEntry(e.config));
    expect(exported[2]).toEqual({ type: 'http', url: 'https://${TENANT}.example.com/${REGION:-eu}/mcp?access_token=${MY_TOKEN}' });
    expect(parseMcpServers({ mcpServers: { a: exported[0], b: exported[1], c: exported[2] } }).entries.map((e) => e.config)).toEqual(
      r.entries.map((e) => e.config),
    );
  });

  it('keeps header values as templates over variables, and never a credential in them', () => {
    const r = parseMcpServers({
      mcpServers: {
        github: {
          type: 'http',
          url: 'https://api.githubcopilot.com/mcp/',
          headers: { Authorization: 'Bearer ${GITHUB_PAT}', 'X-MCP-Toolsets': 'repos,issues', 'X-Client': '${CLIENT:-cli}' },
        },
        sentry: { type: 'http', url: 'https://mcp.sentry.dev/mcp', headers: { Authorization: 'Bearer sntrys_secret_value' } },
        keyed: { type: 'http', url: 'https://x.example/mcp', headers: { 'X-Api-Key': 'abc123', Authorization: 'Basic ${USER} ${PASS}' } },
      },
    });
    expect(r.errors).toEqual([]);
    expect(r.entries.map((e) => e.config)).toEqual([
      {
        type: 'streamable-http',
        url: 'https://api.githubcopilot.com/mcp/',
        headers: [
          { name: 'Authorization', required: true, secret: true, value: 'Bearer {GITHUB_PAT}' },
          { name: 'X-MCP-Toolsets', required: true, secret: false, value: 'repos,issues' },
          { name: 'X-Client', required: true, secret: false, value: '{CLIENT}' },
        ],
        variables: [
          { name: 'GITHUB_PAT', required: true, secret: true },
          { name: 'CLIENT', required: false, secret: false, default: 'cli' },
        ],
      },
      {
        type: 'streamable-http',
        url: 'https://mcp.sentry.dev/mcp',
        headers: [{ name: 'Authorization', required: true, secret: true, value: 'Bearer {AUTH_TOKEN}' }],
        variables: [{ name: 'AUTH_TOKEN', required: true, secret: true }],
      },
      {
        // A fixed key is declared, not kept; a value built from secret variables is kept.
        type: 'streamable-http',
        url: 'https://x.example/mcp',
        headers: [
          { name: 'X-Api-Key', required: true, secret: true },
          { name: 'Authorization', required: true, secret: true, value: 'Basic {USER} {PASS}' },
        ],
        variables: [
          { name: 'USER', required: true, secret: true },
          { name: 'PASS', required: true, secret: true },
        ],
      },
    ]);
    expect(r.notes).toEqual([
      'github: parts filled in at launch became variables (${GITHUB_PAT} → {GITHUB_PAT}, ${CLIENT} → {CLIENT})',
      'sentry: credentials were not imported (declared as secret variables: a bearer token → {AUTH_TOKEN})',
      'keyed: values of headers X-Api-Key were not imported (declared as required headers)',
      'keyed: parts filled in at launch became variables (${USER} → {USER}, ${PASS} → {PASS})',
    ]);
    expect(JSON.stringify(r)).not.toMatch(/sntrys_secret_value|abc123/);
    // Cursor's and VS Code's forms of the same.
    const editors = parseMcpServers({
      mcpServers: {
        e: { type: 'http', url: 'https://x.example/${env:REGION}/mcp', headers: { Authorization: 'Bearer ${input:github-mcp-pat}' } },
      },
    });
    expect(editors.entries[0].config).toEqual({
      type: 'streamable-http',
      url: 'https://x.example/{REGION}/mcp',
      headers: [{ name: 'Authorization', required: true, secret: true, value: 'Bearer {github_mcp_pat}' }],
      variables: [
        { name: 'REGION', required: true, secret: false },
        { name: 'github_mcp_pat', required: true, secret: true },
      ],
    });
    expect(editors.notes).toEqual([
      'e: parts filled in at launch became variables (${env:REGION} → {REGION}, ${input:github-mcp-pat} → {github_mcp_pat})',
    ]);
    // Braces that are not an expansion are text: encoded in a URL, and a header value holding them is not kept.
    const braces = parseMcpServers({
      mcpServers: {
        b: {
          type: 'http',
          url: 'https://x.example/{id}/$${PRICE}/mcp$',
          headers: { 'X-Config': '{"a":1}', 'X-Odd': '${', 'X-Price': '$${PRICE}' },
        },
      },
    });
    expect(braces.errors).toEqual([]);
    expect(braces.entries[0].config).toEqual({
      type: 'streamable-http',
      url: 'https://x.example/%7Bid%7D/%24{PRICE}/mcp$',
      headers: [
        { name: 'X-Config', required: true, secret: false },
        { name: 'X-Odd', required: true, secret: false },
        { name: 'X-Price', required: true, secret: false },
      ],
      variables: [{ name: 'PRICE', required: true, secret: false }],
    });
    // Exported as written, and read back the same.
    const exported = r.entries.map((e) => toMcpServerEntry(e.config));
    expect(exported[0]).toEqual({
      type: 'http',
      url: 'https://api.githubcopilot.com/mcp/',
      headers: { Authorization: 'Bearer ${GITHUB_PAT}', 'X-MCP-Toolsets': 'repos,issues', 'X-Client': '${CLIENT:-cli}' },
    });
    const back = parseMcpServers({ mcpServers: Object.fromEntries(exported.map((x, i) => [`s${i}`, x])) });
    expect(back.entries.map((e) => e.config)).toEqual(r.entries.map((e) => e.config));
  });

  it('answers a broken entry with the problems of the form it meant', () => {
    const r = parseMcpServers({
      mcpServers: { neither: { args: ['x'] }, local: { command: 'npx', args: '-y x' }, remote: { type: 'http', url: 42 }, odd: 'npx x' },
    });
    expect(r.entries).toEqual([]);
    expect(r.errors).toEqual([
      { field: 'document.mcpServers.neither', message: 'give command (a local stdio server) or url (a remote server)' },
      { field: 'document.mcpServers.local.args', message: expect.stringMatching(/expected array/) },
      { field: 'document.mcpServers.remote.url', message: expect.stringMatching(/expected string/) },
      { field: 'document.mcpServers.odd', message: expect.stringMatching(/must be an object with command .* or url/) },
    ]);
  });

  it('round-trips configs through both formats', () => {
    const stdio = launchConfigSchema.parse({
      type: 'stdio',
      command: 'uvx',
      args: ['mcp-server-time'],
      env: [{ name: 'TZ', required: true }],
    });
    expect(parseMcpServers({ mcpServers: { t: toMcpServerEntry(stdio) } }).entries[0].config).toEqual(stdio);
    const remote = launchConfigSchema.parse({
      type: 'streamable-http',
      url: 'https://mcp.example.com/mcp',
      headers: [{ name: 'X-Api-Key', required: true, secret: true }],
    });
    const tool = { name: 'io.example/x', description: 'd', repository_url: null, homepage_url: null } as never;
    expect(parseServerJson(toServerJson(tool, '1.2.3', remote)).entries[0]).toMatchObject({
      name: 'io.example/x',
      version: '1.2.3',
      config: remote,
    });
    const pkg = launchConfigSchema.parse({
      type: 'stdio',
      package: { registry_type: 'npm', identifier: '@scope/srv', version: '1.2.3' },
      args: ['--flag'],
      env: [{ name: 'LEVEL', description: 'log level', default: 'info' }],
    });
    expect(parseServerJson(toServerJson(tool, '1.2.3', pkg)).entries[0].config).toEqual(pkg);
    expect(parseServerJson(toServerJson(tool, '1.2.3', stdio)).entries[0].config).toEqual(stdio);
    expect(toMcpServerEntry(pkg)).toEqual({ command: 'npx', args: ['-y', '@scope/srv@1.2.3', '--flag'], env: { LEVEL: 'info' } });
  });
});

describe('server.json description', () => {
  it('fits the 1-100 characters its schema allows', () => {
    const long =
      'Reads and writes files under one directory, with globbing, diffs and a dry-run mode for every change it makes to the disk.';
    const cut = serverJsonDescription({ name: 'fs', display_name: null, description: long });
    expect(cut).toBe('Reads and writes files under one directory, with globbing, diffs and a dry-run mode for every…');
    expect(cut.length).toBeLessThanOrEqual(100);
    expect(serverJsonDescription({ name: 'fs', display_name: 'File system', description: '  ' })).toBe('File system');
    expect(serverJsonDescription({ name: 'io.x/fs', display_name: null, description: '' })).toBe('io.x/fs');
    expect(serverJsonDescription({ name: 'fs', display_name: null, description: 'Short.\n\nTwo lines.' })).toBe('Short. Two lines.');
    expect(serverJsonDescription({ name: 'fs', display_name: null, description: 'x'.repeat(150) })).toBe(`${'x'.repeat(99)}…`);
  });
});

describe('server.json arguments', () => {
  // As published in the MCP registry: a directory to fill in, a fixed flag, a token inside a value.
  const filesystem = {
    name: 'io.github.modelcontextprotocol/filesystem',
    description: 'Filesystem operations',
    version: '1.0.2',
    packages: [
      {
        registryType: 'npm',
        identifier: '@modelcontextprotocol/server-filesystem',
        version: '1.0.2',
        transport: { type: 'stdio' },
        runtimeHint: 'npx',
        runtimeArguments: [{ type: 'named', name: '--node-options', value: '--max-old-space-size=512' }],
        packageArguments: [
          { type: 'positional', valueHint: 'target_dir', description: 'Directory to serve', default: '/srv/data', isRequired: true },
          { type: 'named', name: '--log-level', value: 'info' },
          { type: 'named', name: '--read-only' },
          { type: 'named', name: '--api-key', value: 'sk-arg-456', isSecret: true },
          {
            type: 'named',
            name: '--auth',
            value: 'Bearer {api_token} for {tenant}',
            variables: { api_token: { isRequired: true, isSecret: true, description: 'token', value: 'sk-var-789' } },
          },
        ],
        environmentVariables: [
          { name: 'LOG_FORMAT', default: 'json' },
          { name: 'MODE', value: 'production' },
          { name: 'UPSTREAM_KEY', value: 'sk-live-123', isSecret: true },
          { name: 'GITHUB_TOKEN', value: 'ghp_unflagged' },
        ],
      },
    ],
  };

  it('keeps values to fill in as declared ${NAME} placeholders, never a label as a literal argument', () => {
    const r = parseServerJson(filesystem);
    expect(r.errors).toEqual([]);
    expect(r.entries[0].config).toEqual({
      type: 'stdio',
      package: { registry_type: 'npm', identifier: '@modelcontextprotocol/server-filesystem', version: '1.0.2' },
      args: [
        '${TARGET_DIR}',
        '--log-level',
        'info',
        '--read-only',
        '--api-key',
        '${API_KEY}',
        '--auth',
        'Bearer ${API_TOKEN} for {tenant}',
      ],
      env: [
        { name: 'LOG_FORMAT', required: false, secret: false, default: 'json' },
        { name: 'MODE', required: false, secret: false, default: 'production' },
        { name: 'UPSTREAM_KEY', required: false, secret: true },
        { name: 'GITHUB_TOKEN', required: false, secret: false },
        { name: 'TARGET_DIR', description: 'Directory to serve', required: true, secret: false, default: '/srv/data' },
        { name: 'API_KEY', required: true, secret: true },
        { name: 'API_TOKEN', description: 'token', required: true, secret: true },
      ],
    });
    for (const secret of ['sk-live-123', 'ghp_unflagged', 'sk-arg-456', 'sk-var-789'])
      expect(JSON.stringify(r.entries)).not.toContain(secret);
    expect(r.notes).toEqual([
      expect.stringMatching(/values of secrets UPSTREAM_KEY, GITHUB_TOKEN were not imported/),
      expect.stringMatching(
        /arguments to fill in at launch became declared variables \(target_dir → \$\{TARGET_DIR\}, --api-key → \$\{API_KEY\}, api_token → \$\{API_TOKEN\}\)/,
      ),
      expect.stringMatching(/1 runtime argument\(s\) for npx not imported/),
    ]);
  });

  it('keeps no credential from a fixed value or a default, whatever the file flags', () => {
    const key = 'sk-proj-' + 'Ab12'.repeat(10);
    const r = parseServerJson({
      ...filesystem,
      packages: [
        {
          ...filesystem.packages[0],
          runtimeArguments: undefined,
          packageArguments: [
            { type: 'positional', value: key },
            { type: 'named', name: '--token', value: 'unflagged-value-1' },
          ],
          environmentVariables: [
            { name: 'OPENAI_KEY', default: 'sk-test-123' },
            { name: 'API_KEY_HEADER', default: 'X-Api-Key' },
          ],
        },
      ],
    });
    expect(r.errors).toEqual([]);
    expect(r.entries[0].config).toMatchObject({
      args: ['${OPENAI_API_KEY}', '--token', '${TOKEN}'],
      env: [
        { name: 'OPENAI_KEY', required: false, secret: false },
        { name: 'API_KEY_HEADER', required: false, secret: false, default: 'X-Api-Key' },
        { name: 'OPENAI_API_KEY', required: true, secret: true },
        { name: 'TOKEN', required: true, secret: true },
      ],
    });
    expect(JSON.stringify(r.entries)).not.toMatch(/sk-test-123|sk-proj-|unflagged-value-1/);
    expect(r.notes).toEqual([
      expect.stringMatching(/values of secrets OPENAI_KEY were not imported/),
      expect.stringMatching(
        /arguments to fill in at launch became declared variables \(value → \$\{OPENAI_API_KEY\}, --token → \$\{TOKEN\}\)/,
      ),
    ]);
  });

  it('reads remote URL variables of server.json, and exports them under the schema that documents them', () => {
    const doc = {
      name: 'com.example/multi-region',
      version: '1.0.0',
      remotes: [
        {
          type: 'streamable-http',
          url: 'https://{tenant_id}.example.com/{region}/{api_version}/mcp?key={key}',
          variables: {
            tenant_id: { description: 'Your tenant', isRequired: true },
            region: { choices: ['us-east-1', 'eu-west-1'], default: 'us-east-1' },
            api_version: { value: 'v2' },
            key: { isRequired: true, isSecret: true, value: 'leaked-value-1' },
            unused: { description: 'not in the URL' },
          },
        },
      ],
    };
    const r = parseServerJson(doc);
    expect(r.errors).toEqual([]);
    const config = {
      type: 'streamable-http',
      url: 'https://{tenant_id}.example.com/{region}/v2/mcp?key={key}',
      headers: [],
      variables: [
        { name: 'tenant_id', description: 'Your tenant', required: true, secret: false },
        { name: 'region', required: false, secret: false, default: 'us-east-1', choices: ['us-east-1', 'eu-west-1'] },
        { name: 'key', required: true, secret: true },
      ],
    };
    expect(r.entries[0].config).toEqual(config);
    expect(r.notes).toEqual([
      'com.example/multi-region: values of variables key were not imported (declared as secret)',
      'com.example/multi-region: variables unused are not used in the remote (not imported)',
    ]);
    expect(JSON.stringify(r)).not.toContain('leaked-value-1');

    const tool = { name: doc.name, description: 'd', repository_url: null, homepage_url: null } as never;
    const exported = toServerJson(tool, '1.0.0', launchConfigSchema.parse(config));
    expect(exported).toMatchObject({
      $schema: 'https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json',
      remotes: [
        {
          url: config.url,
          variables: {
            tenant_id: { description: 'Your tenant', isRequired: true, isSecret: false },
            region: { isRequired: false, isSecret: false, default: 'us-east-1', choices: ['us-east-1', 'eu-west-1'] },
            key: { isRequired: true, isSecret: true },
          },
        },
      ],
    });
    expect(parseServerJson(exported)).toMatchObject({ errors: [], notes: [], entries: [{ config }] });
    // Names are looked up among the file's own variables only (not Object.prototype's `constructor`).
    const proto = parseServerJson({ ...doc, remotes: [{ type: 'sse', url: 'https://x.example/{constructor}/sse', variables: {} }] });
    expect(proto.entries[0].config).toMatchObject({ variables: [{ name: 'constructor', required: true, secret: false }] });
    expect(proto.notes).toEqual([expect.stringMatching(/\{constructor\} in the remote had no variable/)]);
    // A placeholder with no variable is declared rather than refused.
    const bare = parseServerJson({ ...doc, remotes: [{ type: 'sse', url: 'https://{host}/sse' }] });
    expect(bare.entries[0].config).toEqual({
      type: 'sse',
      url: 'https://{host}/sse',
      headers: [],
      variables: [{ name: 'host', required: true, secret: false }],
    });
    expect(bare.notes).toEqual(['com.example/multi-region: {host} in the remote had no variable (declared as required variables)']);
  });

  it("reads server.json header values built from the header's variables, and writes them back beside each header", () => {
    const doc = {
      name: 'com.example/headers',
      version: '1.0.0',
      remotes: [
        {
          type: 'streamable-http',
          url: 'https://{tenant}.example.com/mcp',
          variables: { tenant: { isRequired: true } },
          headers: [
            { name: 'Authorization', value: 'Bearer {api_key}', variables: { api_key: { isRequired: true, isSecret: true } } },
            { name: 'X-Api-Version', value: '{version}', variables: { version: { value: '2024-10' } } },
            { name: 'X-Tenant', value: '{tenant}' },
            { name: 'X-Api-Key', isSecret: true, value: 'fixed-key-never-stored' },
          ],
        },
      ],
    };
    const r = parseServerJson(doc);
    expect(r.errors).toEqual([]);
    const config = {
      type: 'streamable-http',
      url: 'https://{tenant}.example.com/mcp',
      headers: [
        { name: 'Authorization', required: false, secret: false, value: 'Bearer {api_key}' },
        { name: 'X-Api-Version', required: false, secret: false, value: '2024-10' },
        { name: 'X-Tenant', required: false, secret: false, value: '{tenant}' },
        { name: 'X-Api-Key', required: false, secret: true },
      ],
      variables: [
        { name: 'tenant', required: true, secret: false },
        { name: 'api_key', required: true, secret: true },
      ],
    };
    expect(r.entries[0].config).toEqual(config);
    expect(r.notes).toEqual(['com.example/headers: values of headers X-Api-Key were not imported']);
    expect(JSON.stringify(r)).not.toContain('fixed-key-never-stored');
    const tool = { name: doc.name, description: 'd', repository_url: null, homepage_url: null } as never;
    const exported = toServerJson(tool, '1.0.0', launchConfigSchema.parse(config));
    expect((exported.remotes as Record<string, unknown>[])[0]).toEqual({
      type: 'streamable-http',
      url: 'https://{tenant}.example.com/mcp',
      variables: { tenant: { isRequired: true, isSecret: false } },
      headers: [
        {
          name: 'Authorization',
          isRequired: false,
          isSecret: false,
          value: 'Bearer {api_key}',
          variables: { api_key: { isRequired: true, isSecret: true } },
        },
        { name: 'X-Api-Version', isRequired: false, isSecret: false, value: '2024-10' },
        {
          name: 'X-Tenant',
          isRequired: false,
          isSecret: false,
          value: '{tenant}',
          variables: { tenant: { isRequired: true, isSecret: false } },
        },
        { name: 'X-Api-Key', isRequired: false, isSecret: true },
      ],
    });
    expect(parseServerJson(exported)).toMatchObject({ errors: [], notes: [], entries: [{ config }] });
    // A value the templates would misread is not kept, and nothing it named is declared.
    const odd = parseServerJson({
      ...doc,
      remotes: [
        {
          type: 'sse',
          url: 'https://x.example/sse',
          headers: [{ name: 'X-Config', value: '{"a":{b}}', variables: { b: { value: 'sk-' + 'x9'.repeat(20) } } }],
        },
      ],
    });
    expect(odd).toMatchObject({ errors: [], notes: ['com.example/headers: values of headers X-Config were not imported'] });
    expect(odd.entries[0].config).toEqual({
      type: 'sse',
      url: 'https://x.example/sse',
      headers: [{ name: 'X-Config', required: false, secret: false }],
    });
  });

  it("reads VS Code's servers and inputs, and a list of server.json documents as the export writes it", () => {
    const vscode = {
      inputs: [
        { type: 'promptString', id: 'perplexity-key', description: 'Perplexity API Key', password: true },
        { type: 'promptString', id: 'workspace', description: 'Workspace id' },
      ],
      servers: {
        perplexity: {
          type: 'stdio',
          command: 'npx',
          args: ['-y', 'server-perplexity-ask'],
          env: { PERPLEXITY_KEY: '${input:perplexity-key}' },
        },
        github: {
          type: 'http',
          url: 'https://api.githubcopilot.com/mcp/${input:workspace}',
          headers: { Authorization: 'Bearer ${input:perplexity-key}' },
        },
      },
    };
    expect(detectFormat(vscode)).toBe('mcp-servers');
    const r = parseMcpServers(vscode);
    expect(r.errors).toEqual([]);
    expect(r.entries.map((e) => e.config)).toEqual([
      {
        type: 'stdio',
        command: 'npx',
        args: ['-y', 'server-perplexity-ask'],
        env: [{ name: 'PERPLEXITY_KEY', description: 'Perplexity API Key', required: true, secret: true }],
      },
      {
        type: 'streamable-http',
        url: 'https://api.githubcopilot.com/mcp/{workspace}',
        headers: [{ name: 'Authorization', required: true, secret: true, value: 'Bearer {perplexity_key}' }],
        variables: [
          { name: 'workspace', description: 'Workspace id', required: true, secret: false },
          { name: 'perplexity_key', description: 'Perplexity API Key', required: true, secret: true },
        ],
      },
    ]);
    expect(parseMcpServers({ servers: { 'a b': { command: 'x' } } }).errors).toEqual([
      { field: 'document.servers.a b', message: expect.stringMatching(/^server name/) },
    ]);

    const tool = (name: string) => ({ name, description: 'd', repository_url: null, homepage_url: null }) as never;
    const configs = r.entries.map((e) => e.config);
    const list = {
      servers: [toServerJson(tool('io.example/a'), '1.0.0', configs[0]), toServerJson(tool('io.example/b'), '2.0.0', configs[1])],
    };
    expect(detectFormat(list)).toBe('server-json');
    expect(parseServerJson(list).entries.map((e) => [e.name, e.version, e.config])).toEqual([
      ['io.example/a', '1.0.0', configs[0]],
      ['io.example/b', '2.0.0', configs[1]],
    ]);
    const broken = { servers: [list.servers[0], { ...list.servers[1], version: 'two' }, { name: 'io.example/c' }] };
    expect(parseServerJson(broken).errors).toEqual([
      { field: 'document.servers.1.version', message: "'two' is not a semantic version" },
      { field: 'document.servers.2.version', message: expect.stringMatching(/expected string/) },
    ]);
    expect(parseServerJson({ servers: [] }).errors).toEqual([{ field: 'document.servers', message: 'contains no servers' }]);
  });

  it("checks a server.json's metadata as the API checks a tool's, naming the place in the file", () => {
    const doc = { name: 'com.example/x', version: '1.0.0', remotes: [{ type: 'sse', url: 'https://x.example/sse' }] };
    expect(parseServerJson({ ...doc, repository: { url: 'javascript:alert(1)' }, websiteUrl: 'https://u:p@x.example' }).errors).toEqual([
      { field: 'document.repository.url', message: 'must use http or https' },
      { field: 'document.websiteUrl', message: 'must not contain credentials (declare a header instead)' },
    ]);
    expect(parseServerJson({ ...doc, description: `Try it with ${'ghp_' + 'a1B2'.repeat(9)}` }).errors).toEqual([
      { field: 'document.description', message: expect.stringMatching(/^contains what looks like a GitHub token/) },
    ]);
    expect(parseServerJson({ ...doc, repository: { url: 'https://github.com/example/x' } })).toMatchObject({
      errors: [],
      entries: [{ repository_url: 'https://github.com/example/x' }],
    });
  });

  it('exports placeholders as server.json variables and reads its own export back unchanged', () => {
    const config = parseServerJson(filesystem).entries[0].config;
    const tool = { name: filesystem.name, description: 'd', repository_url: null, homepage_url: null } as never;
    const exported = toServerJson(tool, '1.0.2', config) as { packages: { packageArguments: unknown[] }[] };
    expect(exported.packages[0].packageArguments[0]).toEqual({
      type: 'positional',
      value: '{TARGET_DIR}',
      variables: { TARGET_DIR: { description: 'Directory to serve', isRequired: true, isSecret: false, default: '/srv/data' } },
    });
    expect(parseServerJson(exported).entries[0].config).toEqual(config);
  });

  it('takes a package the registry can launch and says what it left; refuses a file with none', () => {
    const mixed = {
      ...filesystem,
      packages: [{ registryType: 'nuget', identifier: 'Acme.Mcp', version: '1.0.0' }, ...filesystem.packages],
    };
    const r = parseServerJson(mixed);
    expect(r.entries[0].config).toMatchObject({ package: { registry_type: 'npm' } });
    expect(r.notes).toContainEqual(expect.stringMatching(/imported the npm package; 1 other package/));
    const none = parseServerJson({
      ...filesystem,
      packages: [{ registryType: 'mcpb', identifier: 'https://x.example/s.mcpb', version: '1.0.0' }],
    });
    expect(none.errors).toEqual([
      { field: 'document.packages', message: 'no package of a registry type the registry can launch (npm, pypi, oci); found mcpb' },
    ]);
  });
});

describe('server.json packages', () => {
  const server = (pkg: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    name: 'io.github.github/github-mcp-server',
    version: '0.16.0',
    packages: [{ registryType: 'oci', transport: { type: 'stdio' }, ...pkg }],
    ...extra,
  });
  const digest = 'sha256:' + '0123abcd'.repeat(8);
  const tool = (display_name: string | null = null) =>
    ({
      name: 'io.github.github/github-mcp-server',
      display_name,
      description: 'GitHub',
      repository_url: null,
      homepage_url: null,
    }) as never;

  it('reads an image named with its tag or digest (server.json since 2025-10-11) and in the older form alike', () => {
    const image = { registry_type: 'oci', identifier: 'ghcr.io/github/github-mcp-server', version: 'v0.16.0' };
    for (const pkg of [
      { identifier: 'ghcr.io/github/github-mcp-server:v0.16.0' },
      { identifier: 'ghcr.io/github/github-mcp-server', version: 'v0.16.0' },
      { identifier: 'ghcr.io/github/github-mcp-server:v0.16.0', version: 'v0.16.0' },
    ]) {
      const r = parseServerJson(server(pkg));
      expect(r.errors).toEqual([]);
      expect(r.entries[0].config).toMatchObject({ package: image });
    }
    expect(parseServerJson(server({ identifier: `mcp/time@${digest}` })).entries[0].config).toMatchObject({
      package: { identifier: 'mcp/time', version: digest },
    });
  });

  it('refuses an image without a tag, a tag and a version that differ, and a version that moves, at its place in the file', () => {
    expect(parseServerJson(server({ identifier: 'mcp/time' })).errors).toEqual([
      {
        field: 'document.packages.0.identifier',
        message: "'mcp/time' names no tag or digest: give the image as it is pulled, e.g. mcp/time:1.0.0",
      },
    ]);
    expect(parseServerJson(server({ identifier: 'mcp/time:1.1', version: '1.2' })).errors).toEqual([
      { field: 'document.packages.0.version', message: "'1.2' differs from the tag or digest in the identifier ('1.1')" },
    ]);
    expect(parseServerJson(server({ identifier: 'mcp/time:latest' })).errors).toEqual([
      { field: 'document.packages.0.version', message: expect.stringMatching(/^'latest' is not one exact version/) },
    ]);
    // The package taken is the second one: its problems are named there.
    const npm = parseServerJson({
      ...server({ registryType: 'nuget', identifier: 'Acme.Mcp', version: '1.0.0' }),
      packages: [
        { registryType: 'nuget', identifier: 'Acme.Mcp', version: '1.0.0' },
        { registryType: 'npm', identifier: '@acme/server', version: '^1.0.0', transport: { type: 'stdio' } },
      ],
    });
    expect(npm.errors).toEqual([
      { field: 'document.packages.1.version', message: expect.stringMatching(/^'\^1.0.0' is not one exact version/) },
    ]);
  });

  it('names an image with the registry server.json gives it, and refuses a package of another npm or PyPI registry', () => {
    const at = (pkg: Record<string, unknown>) => parseServerJson(server(pkg));
    expect(at({ identifier: 'github/github-mcp-server:1.0.0', registryBaseUrl: 'https://ghcr.io' }).entries[0].config).toMatchObject({
      package: { identifier: 'ghcr.io/github/github-mcp-server', version: '1.0.0' },
    });
    expect(at({ identifier: 'mcp/time:1', registryBaseUrl: 'https://docker.io/' }).entries[0].config).toMatchObject({
      package: { identifier: 'mcp/time', version: '1' },
    });
    expect(at({ identifier: 'ghcr.io/a/b:1', registryBaseUrl: 'https://quay.io' }).errors).toEqual([
      { field: 'document.packages.0.registryBaseUrl', message: "'https://quay.io' is not the registry the identifier names (ghcr.io)" },
    ]);
    expect(
      at({ registryType: 'npm', identifier: '@acme/server', version: '1.0.0', registryBaseUrl: 'https://registry.npmjs.org/' }).errors,
    ).toEqual([]);
    expect(
      at({ registryType: 'npm', identifier: '@acme/server', version: '1.0.0', registryBaseUrl: 'https://npm.acme.internal' }).errors,
    ).toEqual([
      {
        field: 'document.packages.0.registryBaseUrl',
        message: expect.stringMatching(/^'https:\/\/npm\.acme\.internal' is not https:\/\/registry\.npmjs\.org: .*someone else's package$/),
      },
    ]);
  });

  it('reads a server.json from before 2025-09-16 in its snake_case spelling, keeping variable names as they are', () => {
    const old = {
      $schema: 'https://static.modelcontextprotocol.io/schemas/2025-07-09/server.schema.json',
      name: 'io.github.augmnt/augments-mcp-server',
      description: 'Framework documentation',
      version: '2.0.0',
      website_url: 'https://augments.dev',
      packages: [
        {
          registry_type: 'pypi',
          registry_base_url: 'https://pypi.org',
          identifier: 'augments-mcp-server',
          version: '2.0.0',
          package_arguments: [{ type: 'positional', value: '--root={is_required}', variables: { is_required: { is_required: true } } }],
          environment_variables: [{ name: 'AUGMENTS_TOKEN', is_required: true, is_secret: true }],
        },
      ],
    };
    const r = parseServerJson(old);
    expect(r.errors).toEqual([]);
    expect(r.entries[0]).toMatchObject({
      homepage_url: 'https://augments.dev',
      config: {
        package: { registry_type: 'pypi', identifier: 'augments-mcp-server', version: '2.0.0' },
        args: ['--root=${IS_REQUIRED}'],
        env: [
          { name: 'AUGMENTS_TOKEN', required: true, secret: true },
          { name: 'IS_REQUIRED', required: true, secret: false },
        ],
      },
    });
    expect(r.notes[0]).toBe(
      'io.github.augmnt/augments-mcp-server: read the snake_case fields of a server.json from before 2025-09-16 (website_url, registry_type, registry_base_url, package_arguments, is_required, environment_variables, is_secret)',
    );
    // A key JSON.parse made an own property stays one (no prototype is set from a document).
    expect(
      parseServerJson(JSON.parse('{"name":"a/b","version":"1.0.0","__proto__":{"remotes":[{"type":"sse","url":"https://x.example"}]}}'))
        .errors,
    ).toEqual([{ field: 'document', message: 'needs a stdio package or a remote' }]);
  });

  it('names the top-level fields a tool has no place for', () => {
    const r = parseServerJson(server({ identifier: 'mcp/time:1' }, { icons: [{ src: 'https://x.example/i.png' }], status: 'active' }));
    expect(r.errors).toEqual([]);
    expect(r.notes).toEqual(['io.github.github/github-mcp-server: fields not imported: icons, status']);
    const hashed = parseServerJson(
      server({ registryType: 'npm', identifier: '@github/mcp', version: '1.0.0', fileSha256: 'ab'.repeat(32) }),
    );
    expect(hashed.notes).toEqual(["io.github.github/github-mcp-server: the package's fileSha256 was not imported (its version pins it)"]);
  });

  it('says why a package reached over HTTP once started is not imported', () => {
    expect(
      parseServerJson(
        server({
          registryType: 'npm',
          identifier: 'x',
          version: '1.0.0',
          transport: { type: 'streamable-http', url: 'http://localhost:{port}/mcp' },
        }),
      ).errors,
    ).toEqual([
      {
        field: 'document.packages',
        message:
          'its packages are reached over streamable-http once started locally, which the registry cannot launch: give a stdio package or a remote',
      },
    ]);
    expect(parseServerJson({ name: 'a/b', version: '1.0.0' }).errors).toEqual([
      { field: 'document', message: 'needs a stdio package or a remote' },
    ]);
  });

  it("takes a package without a version at the server's version, and says so", () => {
    const r = parseServerJson(server({ registryType: 'npm', identifier: '@github/mcp' }));
    expect(r.entries[0].config).toMatchObject({ package: { registry_type: 'npm', identifier: '@github/mcp', version: '0.16.0' } });
    expect(r.notes).toContain("io.github.github/github-mcp-server: the package gives no version; imported as 0.16.0, the server's");
  });

  it('exports an image with its tag or digest in the identifier, under the current schema, and reads it back unchanged', () => {
    for (const version of ['v0.16.0', digest]) {
      const config: LaunchConfig = {
        type: 'stdio',
        package: { registry_type: 'oci', identifier: 'ghcr.io/github/github-mcp-server', version },
        args: [],
        env: [],
      };
      const exported = toServerJson(tool(), '1.0.0', config) as { $schema: string; packages: Record<string, unknown>[] };
      expect(exported.$schema).toBe('https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json');
      expect(exported.packages[0]).toEqual({
        registryType: 'oci',
        identifier: `ghcr.io/github/github-mcp-server${version === digest ? '@' : ':'}${version}`,
        transport: { type: 'stdio' },
      });
      expect(parseServerJson(exported).entries[0].config).toEqual(config);
      expect(toMcpServerEntry(config)).toEqual({ command: 'docker', args: ['run', '-i', '--rm', exported.packages[0].identifier] });
      // A container sees only the variables docker is told to pass in.
      const withToken: LaunchConfig = { ...config, env: [{ name: 'GITHUB_TOKEN', required: true, secret: true }] };
      expect(toMcpServerEntry(withToken)).toEqual({
        command: 'docker',
        args: ['run', '-i', '--rm', '-e', 'GITHUB_TOKEN', exported.packages[0].identifier],
        env: { GITHUB_TOKEN: '${GITHUB_TOKEN}' },
      });
    }
  });

  it("exports a tool's display name as server.json's title (cut to its 100 characters) and imports it into a new tool", () => {
    const config: LaunchConfig = { type: 'sse', url: 'https://x.example/sse', headers: [] };
    const exported = toServerJson(tool('GitHub  MCP'), '1.0.0', config);
    expect(exported.title).toBe('GitHub MCP');
    expect(parseServerJson(exported).entries[0].display_name).toBe('GitHub MCP');
    expect((toServerJson(tool('t'.repeat(150)), '1.0.0', config).title as string).length).toBe(100);
    expect(toServerJson(tool(), '1.0.0', config)).not.toHaveProperty('title');
    expect(parseServerJson({ ...exported, title: ' ' }).errors).toEqual([
      { field: 'document.title', message: expect.stringMatching(/too small|at least 1/i) },
    ]);
  });
});

describe('server.json names', () => {
  const tool = (name: string) => ({ name, display_name: null, description: 'd', repository_url: null, homepage_url: null }) as never;
  const remote: LaunchConfig = { type: 'sse', url: 'https://x.example/sse', headers: [] };

  it('puts a tool named without a namespace under one (its schema wants namespace/name), keeping its own name for re-import', () => {
    const local = toServerJson(tool('filesystem'), '1.0.0', remote);
    expect(local).toMatchObject({ name: 'local/filesystem', _meta: { 'io.mcp-platform/name': { name: 'filesystem' } } });
    expect(toServerJson(tool('filesystem'), '1.0.0', remote, 'io.github.alice').name).toBe('io.github.alice/filesystem');
    expect(parseServerJson(local).entries[0].name).toBe('filesystem');
    // A namespaced tool is exported as it is named, whatever namespace is asked for.
    const own = toServerJson(tool('io.github.bob/weather'), '1.0.0', remote, 'io.github.alice');
    expect(own.name).toBe('io.github.bob/weather');
    expect(own).not.toHaveProperty('_meta');
    // A command-based server keeps both in _meta.
    const command = toServerJson(tool('fs'), '1.0.0', { type: 'stdio', command: 'fs-server', args: [], env: [] });
    expect(Object.keys(command._meta as object)).toEqual(['io.mcp-platform/name', 'io.mcp-platform/command']);
    expect(parseServerJson(command).entries[0]).toMatchObject({ name: 'fs', config: { command: 'fs-server' } });
  });

  it("takes the document's name once it is renamed, and never a kept name that is not a tool name", () => {
    const local = toServerJson(tool('filesystem'), '1.0.0', remote);
    expect(parseServerJson({ ...local, name: 'io.github.alice/filesystem' }).entries[0].name).toBe('filesystem');
    expect(parseServerJson({ ...local, name: 'io.github.alice/files' }).entries[0].name).toBe('io.github.alice/files');
    for (const kept of [{ name: 'a/filesystem' }, { name: 42 }, 'filesystem', null, { name: '../filesystem' }])
      expect(parseServerJson({ ...local, _meta: { 'io.mcp-platform/name': kept } }).entries[0].name).toBe('local/filesystem');
  });
});
