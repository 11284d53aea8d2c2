import { ApiClient, isolate, startPlatform, type RunningPlatform, type TestIsolation } from '#testing';

/** Import/export through the gateway with the files MCP users have: `.mcp.json` and registry `server.json`. */
describe('registry import/export (e2e)', () => {
  let iso: TestIsolation;
  let platform: RunningPlatform;
  let alice: ApiClient;
  let bob: ApiClient;

  const SECRET = 'ghp_aliceRealTokenThatMustNeverBeStored';
  const mcpJson = {
    mcpServers: {
      filesystem: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/Users/alice/Desktop'] },
      github: {
        command: 'docker',
        args: ['run', '-i', '--rm', '-e', 'GITHUB_PERSONAL_ACCESS_TOKEN', 'ghcr.io/github/github-mcp-server'],
        env: { GITHUB_PERSONAL_ACCESS_TOKEN: SECRET },
      },
      sentry: { type: 'http', url: 'https://mcp.sentry.dev/mcp', headers: { Authorization: 'Bearer sntrys_secret_value' } },
    },
  };
  const serverJson = {
    $schema: 'https://static.modelcontextprotocol.io/schemas/2025-09-29/server.schema.json',
    name: 'io.github.modelcontextprotocol/server-everything',
    description: 'MCP server that exercises all the features of the MCP protocol',
    repository: { url: 'https://github.com/modelcontextprotocol/servers', source: 'github' },
    version: '2025.9.25',
    packages: [
      {
        registryType: 'npm',
        identifier: '@modelcontextprotocol/server-everything',
        version: '2025.9.25',
        transport: { type: 'stdio' },
        // A fixed argument, and one left to whoever runs the server (valueHint is a label, not a value).
        packageArguments: [
          { type: 'positional', value: 'stdio' },
          { type: 'positional', valueHint: 'root_dir', description: 'Directory to serve', isRequired: true },
        ],
        environmentVariables: [
          { name: 'LOG_LEVEL', description: 'Logging level', isRequired: false, isSecret: false, default: 'info' },
          { name: 'API_TOKEN', description: 'Token for the upstream API', isRequired: true, isSecret: true },
        ],
      },
    ],
  };

  beforeAll(async () => {
    iso = isolate({
      BOOTSTRAP_ADMIN_USERNAME: 'root',
      BOOTSTRAP_ADMIN_EMAIL: 'root@example.com',
      BOOTSTRAP_ADMIN_PASSWORD: 'import-admin-pass-1',
      // Every export of all tools here spans several pages (the gateway streams them into one document).
      EXPORT_PAGE_SIZE: '2',
    });
    platform = await startPlatform(iso.env, { only: ['gateway', 'registry'] });
    const api = new ApiClient(platform.baseUrl);
    const admin = api.withToken(
      (await api.post('/api/v1/auth/login', { username: 'root', password: 'import-admin-pass-1' })).body.access_token,
    );
    for (const u of ['alice', 'bob'])
      await admin.post('/api/v1/users', { username: u, email: `${u}@example.com`, password: 'import-user-secret-1', role: 'maintainer' });
    const login = async (u: string) =>
      api.withToken((await api.post('/api/v1/auth/login', { username: u, password: 'import-user-secret-1' })).body.access_token);
    alice = await login('alice');
    bob = await login('bob');
  }, 120_000);

  afterAll(async () => {
    await platform?.stop();
    await iso?.cleanup();
  }, 60_000);

  const total = async (c: ApiClient) => (await c.get('/api/v1/mcps?page_size=100')).body.total as number;

  it('imports a .mcp.json: dry run first, then for real; secret values never stored; re-import is a no-op', async () => {
    const dry = await alice.post('/api/v1/mcps/import', { document: mcpJson, dry_run: true });
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ dry_run: true, format: 'mcp-servers', updated: [], skipped: [] });
    expect(dry.body.created).toEqual([
      { name: 'filesystem', version: '1.0.0', tool_id: null },
      { name: 'github', version: '1.0.0', tool_id: null },
      { name: 'sentry', version: '1.0.0', tool_id: null },
    ]);
    expect(dry.body.notes.join(' ')).toMatch(/GITHUB_PERSONAL_ACCESS_TOKEN were not imported/);
    expect(await total(alice)).toBe(0);

    const real = await alice.post('/api/v1/mcps/import', { document: mcpJson });
    expect(real.status).toBe(200);
    expect(real.body.created.map((c: { tool_id: string }) => typeof c.tool_id)).toEqual(['string', 'string', 'string']);
    const github = real.body.created.find((c: { name: string }) => c.name === 'github');
    const version = await alice.get(`/api/v1/mcps/${github.tool_id}/versions/latest`);
    expect(version.body.config.env).toEqual([{ name: 'GITHUB_PERSONAL_ACCESS_TOKEN', required: true, secret: true }]);
    const sentry = await alice.get(`/api/v1/mcps/${real.body.created[2].tool_id}/versions/latest`);
    expect(sentry.body.config).toEqual({
      type: 'streamable-http',
      url: 'https://mcp.sentry.dev/mcp',
      // The token is taken out of the value and asked for at launch; the scheme stays.
      headers: [{ name: 'Authorization', required: true, secret: true, value: 'Bearer {AUTH_TOKEN}' }],
      variables: [{ name: 'AUTH_TOKEN', required: true, secret: true }],
    });
    const everything = JSON.stringify([(await alice.get('/api/v1/mcps/export')).body, version.body, sentry.body]);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain('sntrys_secret_value');

    const again = await alice.post('/api/v1/mcps/import', { document: mcpJson });
    expect(again.body.created).toEqual([]);
    expect(again.body.skipped.map((s: { name: string }) => s.name)).toEqual(['filesystem', 'github', 'sentry']);

    // A changed entry becomes the next patch version.
    const changed = structuredClone(mcpJson);
    changed.mcpServers.filesystem.args[2] = '/srv/data';
    const update = await alice.post('/api/v1/mcps/import', { document: changed });
    expect(update.body.updated).toEqual([{ name: 'filesystem', version: '1.0.1', tool_id: expect.any(String), warnings: [] }]);
    // An update the diff would flag says so in the report, the dry run's first: another package behind npx, a new secret.
    const swapped = structuredClone(changed);
    swapped.mcpServers.filesystem.args[1] = '@modelcontextprotoco1/server-filesystem';
    (swapped.mcpServers.filesystem as { env?: Record<string, string> }).env = { FS_API_KEY: 'not-stored' };
    const preview = await alice.post('/api/v1/mcps/import', { document: swapped, dry_run: true });
    expect(preview.body.updated).toEqual([
      {
        name: 'filesystem',
        version: '1.0.2',
        tool_id: expect.any(String),
        warnings: [
          'launch target changed: npm package @modelcontextprotocol/server-filesystem → npm package @modelcontextprotoco1/server-filesystem',
          'asks for a new secret: FS_API_KEY',
        ],
      },
    ]);
  });

  it('round-trips exports: an exported document re-imports as unchanged', async () => {
    const exported = await alice.get('/api/v1/mcps/export?format=mcp-servers');
    expect(exported.status).toBe(200);
    // Written page by page (2 tools each here) as one document, byte for byte what JSON.stringify gives.
    expect(exported.headers.get('transfer-encoding')).toBe('chunked');
    expect(exported.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(exported.text).toBe(JSON.stringify(exported.body));
    expect(Object.keys(exported.body.mcpServers)).toEqual(['filesystem', 'github', 'sentry']);
    // Nothing to export is an empty document; an exact multiple of the page ends with an empty page.
    expect((await bob.get('/api/v1/mcps/export')).body).toEqual({ mcpServers: {} });
    expect((await bob.get('/api/v1/mcps/export?format=server-json')).body).toEqual({ servers: [] });
    const two = await alice.get('/api/v1/mcps/export?format=server-json');
    // server.json names are namespace/name: tools named without one are exported under 'local'.
    expect((two.body.servers as { name: string }[]).map((d) => d.name)).toEqual(['local/filesystem', 'local/github', 'local/sentry']);
    expect(exported.body.mcpServers.github).toEqual({
      command: 'docker',
      args: ['run', '-i', '--rm', '-e', 'GITHUB_PERSONAL_ACCESS_TOKEN', 'ghcr.io/github/github-mcp-server'],
      env: { GITHUB_PERSONAL_ACCESS_TOKEN: '${GITHUB_PERSONAL_ACCESS_TOKEN}' },
    });
    const back = await alice.post('/api/v1/mcps/import', { document: exported.body, dry_run: true });
    expect(back.body.created).toEqual([]);
    expect(back.body.updated).toEqual([]);
    expect(back.body.skipped).toHaveLength(3);

    // The same tools as server.json: imported from .mcp.json without descriptions, each still has
    // the 1-100 character description the MCP registry's schema requires.
    const servers = (await alice.get('/api/v1/mcps/export?format=server-json')).body.servers as { name: string; description: string }[];
    expect(servers.map((d) => [d.name, d.description])).toEqual([
      ['local/filesystem', 'filesystem'],
      ['local/github', 'github'],
      ['local/sentry', 'sentry'],
    ]);
    // Under the namespace asked for (the user's, to publish them); it names server.json's names only.
    const mine = await alice.get('/api/v1/mcps/export?format=server-json&namespace=io.github.alice');
    expect((mine.body.servers as { name: string }[]).map((d) => d.name)).toEqual([
      'io.github.alice/filesystem',
      'io.github.alice/github',
      'io.github.alice/sentry',
    ]);
    for (const bad of ['format=mcp-servers&namespace=io.github.alice', 'format=server-json&namespace=io.github/alice']) {
      const refused = await alice.get(`/api/v1/mcps/export?${bad}`);
      expect(refused.status).toBe(400);
      expect(refused.body.error.message).toMatch(/query\.namespace: (applies to format=server-json only|must be a reverse-DNS namespace)/);
    }
    // Both lists import back as they are, as the same tools: every server unchanged.
    const renamed = await alice.post('/api/v1/mcps/import', { document: mine.body, dry_run: true });
    expect(renamed.body.skipped.map((x: { name: string }) => x.name)).toEqual(['filesystem', 'github', 'sentry']);
    const list = await alice.post('/api/v1/mcps/import', { document: { servers }, dry_run: true });
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ format: 'server-json', created: [], updated: [] });
    expect(list.body.skipped.map((x: { name: string }) => x.name)).toEqual(['filesystem', 'github', 'sentry']);
  });

  it('imports a registry server.json and round-trips it', async () => {
    const dry = await alice.post('/api/v1/mcps/import', { document: serverJson, dry_run: true });
    expect(dry.body).toMatchObject({ format: 'server-json', created: [{ name: serverJson.name, version: '2025.9.25', tool_id: null }] });
    const real = await alice.post('/api/v1/mcps/import', { document: serverJson, visibility: 'public' });
    const id = real.body.created[0].tool_id as string;
    const tool = await bob.get(`/api/v1/mcps/${id}`);
    expect(tool.body).toMatchObject({
      visibility: 'public',
      repository_url: 'https://github.com/modelcontextprotocol/servers',
      latest_version: '2025.9.25',
    });
    const v = await bob.get(`/api/v1/mcps/${id}/versions/latest`);
    expect(v.body.config).toEqual({
      type: 'stdio',
      package: { registry_type: 'npm', identifier: '@modelcontextprotocol/server-everything', version: '2025.9.25' },
      args: ['stdio', '${ROOT_DIR}'],
      env: [
        { name: 'LOG_LEVEL', description: 'Logging level', required: false, secret: false, default: 'info' },
        { name: 'API_TOKEN', description: 'Token for the upstream API', required: true, secret: true },
        { name: 'ROOT_DIR', description: 'Directory to serve', required: true, secret: false },
      ],
    });
    expect(real.body.notes).toEqual([expect.stringMatching(/root_dir → \$\{ROOT_DIR\}/)]);
    // Four tools for Alice now: two full pages and an empty one; Bob sees only the public one.
    const all = await alice.get('/api/v1/mcps/export?format=server-json');
    expect(all.text).toBe(JSON.stringify(all.body));
    expect((all.body.servers as { name: string }[]).map((d) => d.name)).toEqual([
      'local/filesystem',
      'local/github',
      serverJson.name,
      'local/sentry',
    ]);
    expect(Object.keys((await bob.get('/api/v1/mcps/export')).body.mcpServers)).toEqual([serverJson.name]);
    const exported = await bob.get(`/api/v1/mcps/${id}/export?format=server-json`);
    expect(exported.body).toMatchObject({
      name: serverJson.name,
      version: '2025.9.25',
      packages: [{ registryType: 'npm', identifier: serverJson.packages[0].identifier }],
    });
    const back = await alice.post('/api/v1/mcps/import', { document: exported.body, dry_run: true });
    expect(back.body.skipped).toEqual([{ name: serverJson.name, reason: 'version 2025.9.25 is already published with the same content' }]);
    // Same version, other content: refused.
    const tampered = structuredClone(serverJson);
    tampered.packages[0].packageArguments = [{ type: 'positional', value: 'sse' }];
    const refused = await alice.post('/api/v1/mcps/import', { document: tampered });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/already published with different content/);
  });

  it('is all-or-nothing: a broken file or a conflicting entry changes nothing', async () => {
    const before = await total(alice);
    const broken = {
      mcpServers: {
        'brand-new': { command: 'uvx', args: ['mcp-server-time'] },
        'bad-remote': { type: 'sse', url: 'ftp://example.com/sse' },
      },
    };
    const r = await alice.post('/api/v1/mcps/import', { document: broken });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/bad-remote.*http or https.*nothing was imported/);
    expect(await total(alice)).toBe(before);

    // Bob may not import into Alice's tool; his new entry is not created either.
    const clash = await bob.post('/api/v1/mcps/import', {
      document: { mcpServers: { 'bobs-new': { command: 'x' }, github: { command: 'y' } } },
    });
    expect(clash.status).toBe(409);
    expect(clash.body.error.message).toMatch(/belongs to someone else/);
    expect((await bob.get('/api/v1/mcps?q=bobs-new')).body.total).toBe(0);

    expect((await alice.post('/api/v1/mcps/import', { document: { hello: 'world' } })).body.error.message).toMatch(
      /not an mcpServers JSON/,
    );
    expect((await alice.post('/api/v1/mcps/import', { document: { mcpServers: { 'white space': { command: 'x' } } } })).status).toBe(400);
    // An entry is read as the form it meant (a command or a url), and its problems are named.
    const unclear = await alice.post('/api/v1/mcps/import', {
      document: { mcpServers: { 'no-launch': { args: ['x'] }, 'bad-args': { command: 'npx', args: '-y x' } } },
    });
    expect(unclear.status).toBe(400);
    expect(unclear.body.error.details).toEqual([
      { field: 'document.mcpServers.no-launch', message: 'give command (a local stdio server) or url (a remote server)' },
      { field: 'document.mcpServers.bad-args.args', message: expect.stringMatching(/expected array/) },
    ]);
    expect(await total(alice)).toBe(before);
  });
  it('exports a named version: an earlier one, a yanked one flagged, never for someone who may not see the tool', async () => {
    const id = (await alice.post('/api/v1/mcps', { name: 'versioned-export' })).body.id as string;
    const config = (pkg: string) => ({ type: 'stdio', command: 'npx', args: ['-y', pkg] });
    for (const [version, pkg] of [
      ['1.0.0', 'srv@1'],
      ['1.1.0', 'srv@2'],
    ])
      expect((await alice.post(`/api/v1/mcps/${id}/versions`, { version, config: config(pkg) })).status).toBe(201);
    expect((await alice.post(`/api/v1/mcps/${id}/versions/1.1.0/yank`, { reason: 'broke the search tool' })).status).toBe(200);

    const earlier = await alice.get(`/api/v1/mcps/${id}/export?version=1.0.0`);
    expect(earlier.body).toEqual({ mcpServers: { 'versioned-export': { command: 'npx', args: ['-y', 'srv@1'] } } });
    const latest = await alice.get(`/api/v1/mcps/${id}/export`);
    expect(latest.body).toEqual(earlier.body); // 1.1.0 is yanked: latest is 1.0.0
    const yanked = await alice.get(`/api/v1/mcps/${id}/export?version=1.1.0&format=server-json`);
    expect(yanked.body).toMatchObject({
      version: '1.1.0',
      _meta: { 'io.mcp-platform/command': { args: ['-y', 'srv@2'] }, 'io.mcp-platform/yanked': { reason: 'broke the search tool' } },
    });
    const missing = await alice.get(`/api/v1/mcps/${id}/export?version=9.9.9`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toMatch(/9\.9\.9/);
    expect((await bob.get(`/api/v1/mcps/${id}/export?version=1.0.0`)).status).toBe(404);
    const all = await alice.get('/api/v1/mcps/export?version=1.0.0');
    expect(all.status).toBe(400);
    expect(all.body.error.message).toMatch(/query.*version/i);
  });

  it('keeps credentials on the command line or in a URL out of the registry', async () => {
    const brave = {
      mcpServers: {
        'brave-search': {
          command: 'npx',
          args: ['-y', '@brave/brave-search-mcp-server', '--brave-api-key', 'BSA_keyThatMustNeverBeStored', '--transport=stdio'],
        },
      },
    };
    const r = await alice.post('/api/v1/mcps/import', { document: brave });
    expect(r.status).toBe(200);
    expect(r.body.notes).toEqual([
      expect.stringMatching(/credentials on the command line were not imported .*--brave-api-key → \$\{BRAVE_API_KEY\}/),
    ]);
    const id = r.body.created[0].tool_id as string;
    const before = await total(alice);
    const version = await alice.get(`/api/v1/mcps/${id}/versions/latest`);
    expect(version.body.config).toEqual({
      type: 'stdio',
      command: 'npx',
      args: ['-y', '@brave/brave-search-mcp-server', '--brave-api-key', '${BRAVE_API_KEY}', '--transport=stdio'],
      env: [{ name: 'BRAVE_API_KEY', required: true, secret: true }],
    });
    const exported = await alice.get(`/api/v1/mcps/${id}/export`);
    expect(JSON.stringify([exported.body, version.body, (await alice.get(`/api/v1/mcps/${id}/history`)).body])).not.toContain(
      'BSA_keyThatMustNeverBeStored',
    );

    // A key in a remote's URL becomes a secret URL variable (services such as Zapier take it nowhere else).
    const keyed = await alice.post('/api/v1/mcps/import', {
      document: { mcpServers: { maps: { type: 'http', url: 'https://maps.example.com/mcp?api_key=live-key-never-stored' } } },
    });
    expect(keyed.status).toBe(200);
    expect(keyed.body.notes).toEqual(['maps: credentials were not imported (declared as secret variables: api_key → {API_KEY})']);
    const maps = keyed.body.created[0].tool_id as string;
    expect((await alice.get(`/api/v1/mcps/${maps}/versions/latest`)).body.config).toEqual({
      type: 'streamable-http',
      url: 'https://maps.example.com/mcp?api_key={API_KEY}',
      headers: [],
      variables: [{ name: 'API_KEY', required: true, secret: true }],
    });
    const mapsExports = await Promise.all(
      ['mcp-servers', 'server-json'].map(async (format) => (await alice.get(`/api/v1/mcps/${maps}/export?format=${format}`)).body),
    );
    expect(mapsExports[0].mcpServers.maps).toEqual({ type: 'http', url: 'https://maps.example.com/mcp?api_key=${API_KEY}' });
    expect(mapsExports[1].remotes[0].variables).toEqual({ API_KEY: { isRequired: true, isSecret: true } });
    expect(JSON.stringify([mapsExports, (await alice.get(`/api/v1/mcps/${maps}/history`)).body])).not.toContain('live-key-never-stored');

    // Through the API, the key itself is refused, naming the parameter; as a secret variable it is taken.
    const own = (await alice.post('/api/v1/mcps', { name: 'maps-by-api' })).body.id as string;
    const literal = await alice.post(`/api/v1/mcps/${own}/versions`, {
      version: '1.0.0',
      config: { type: 'streamable-http', url: 'https://maps.example.com/mcp?api_key=live-key-never-stored' },
    });
    expect(literal.status).toBe(400);
    expect(literal.body.error.message).toMatch(/config\.url: must not contain credentials \(query parameter 'api_key'/);
    const undeclared = await alice.post(`/api/v1/mcps/${own}/versions`, {
      version: '1.0.0',
      config: { type: 'streamable-http', url: 'https://{tenant}.maps.example.com/mcp' },
    });
    expect(undeclared.status).toBe(400);
    expect(undeclared.body.error.message).toMatch(/config\.url: uses \{tenant\}: declare it in variables/);
    const templated = await alice.post(`/api/v1/mcps/${own}/versions`, {
      version: '1.0.0',
      config: {
        type: 'streamable-http',
        url: 'https://{tenant}.maps.example.com/mcp?api_key={key}',
        variables: [
          { name: 'tenant', description: 'Your tenant', required: true },
          { name: 'key', required: true, secret: true },
        ],
      },
    });
    expect(templated.status).toBe(201);
    expect((await alice.get(`/api/v1/mcps/${own}/versions/1.0.0`)).body.config.variables).toEqual([
      { name: 'tenant', description: 'Your tenant', required: true, secret: false },
      { name: 'key', required: true, secret: true },
    ]);
    expect((await total(alice)) - before).toBe(2);
  });

  it('imports an image as server.json names it today (the tag in the identifier), with its title, and exports it back that way', async () => {
    const image = {
      $schema: 'https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json',
      name: 'io.github.github/github-mcp-server',
      title: 'GitHub',
      description: "Connect AI assistants to GitHub's issues, pull requests and code",
      version: '0.16.0',
      packages: [
        {
          registryType: 'oci',
          identifier: 'ghcr.io/github/github-mcp-server:0.16.0',
          transport: { type: 'stdio' },
          environmentVariables: [{ name: 'GITHUB_PERSONAL_ACCESS_TOKEN', isRequired: true, isSecret: true }],
        },
      ],
    };
    const before = await total(alice);
    // An image without a tag would run whatever `latest` is that day: refused, nothing written.
    const untagged = structuredClone(image);
    untagged.packages[0].identifier = 'ghcr.io/github/github-mcp-server';
    const refused = await alice.post('/api/v1/mcps/import', { document: untagged });
    expect(refused.status).toBe(400);
    expect(refused.body.error.details).toContainEqual({
      field: 'document.packages.0.identifier',
      message: expect.stringMatching(/names no tag or digest/),
    });
    expect(await total(alice)).toBe(before);

    const created = await alice.post('/api/v1/mcps/import', { document: image });
    expect(created.status).toBe(200);
    const id = created.body.created[0].tool_id as string;
    expect((await alice.get(`/api/v1/mcps/${id}`)).body).toMatchObject({ display_name: 'GitHub' });
    expect((await alice.get(`/api/v1/mcps/${id}/versions/0.16.0`)).body.config.package).toEqual({
      registry_type: 'oci',
      identifier: 'ghcr.io/github/github-mcp-server',
      version: '0.16.0',
    });
    const exported = (await alice.get(`/api/v1/mcps/${id}/export?format=server-json`)).body;
    expect(exported).toMatchObject({ $schema: image.$schema, title: 'GitHub', packages: [{ identifier: image.packages[0].identifier }] });
    expect(exported.packages[0]).not.toHaveProperty('version');
    const mcp = (await alice.get(`/api/v1/mcps/${id}/export`)).body.mcpServers[image.name];
    // The container is given the token it declares (docker passes in only what -e names).
    expect(mcp).toEqual({
      command: 'docker',
      args: ['run', '-i', '--rm', '-e', 'GITHUB_PERSONAL_ACCESS_TOKEN', 'ghcr.io/github/github-mcp-server:0.16.0'],
      env: { GITHUB_PERSONAL_ACCESS_TOKEN: '${GITHUB_PERSONAL_ACCESS_TOKEN}' },
    });
    expect((await alice.post('/api/v1/mcps/import', { document: exported, dry_run: true })).body.skipped).toEqual([
      { name: image.name, reason: 'version 0.16.0 is already published with the same content' },
    ]);
  });
});
