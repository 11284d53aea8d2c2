import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, isolate, startPlatform, type RunningPlatform, type TestIsolation } from '#testing';

/** MCP_CONFIG_WATCH_PATH: .mcp.json files imported on start, re-imported on change, invalid files reported and harmless. */
describe('watched config directory (e2e)', () => {
  let iso: TestIsolation;
  let platform: RunningPlatform;
  let admin: ApiClient;
  let maintainer: ApiClient;
  let dir: string;

  const write = (file: string, doc: unknown) =>
    writeFileSync(join(dir, file), typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2));
  const status = async () => (await admin.get('/api/v1/mcp/status')).body;
  const eventually = async (check: () => Promise<boolean>, ms = 8000) => {
    const end = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > end) throw new Error(`condition not met in time; status: ${JSON.stringify(await status())}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-watch-'));
    write('team.mcp.json', {
      mcpServers: { time: { command: 'uvx', args: ['mcp-server-time'] }, fetch: { command: 'uvx', args: ['mcp-server-fetch'] } },
    });
    write('notes.txt', 'ignored');
    iso = isolate({
      MCP_CONFIG_WATCH_PATH: dir,
      BOOTSTRAP_ADMIN_USERNAME: 'chief',
      BOOTSTRAP_ADMIN_EMAIL: 'chief@example.com',
      BOOTSTRAP_ADMIN_PASSWORD: 'watch-admin-pass-1',
    });
    platform = await startPlatform(iso.env, { only: ['gateway', 'registry'] });
    const api = new ApiClient(platform.baseUrl);
    admin = api.withToken((await api.post('/api/v1/auth/login', { username: 'chief', password: 'watch-admin-pass-1' })).body.access_token);
    await admin.post('/api/v1/users', { username: 'mia', email: 'mia@example.com', password: 'watch-user-pass-1', role: 'maintainer' });
    maintainer = api.withToken(
      (await api.post('/api/v1/auth/login', { username: 'mia', password: 'watch-user-pass-1' })).body.access_token,
    );
  }, 120_000);

  afterAll(async () => {
    await platform?.stop();
    await iso?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('imported the directory on start, as public tools only admins may change', async () => {
    const s = await status();
    expect(s).toMatchObject({ enabled: true, path: dir, trigger: 'startup', files: [{ file: 'team.mcp.json', status: 'imported' }] });
    const tools = (await maintainer.get('/api/v1/mcps?sort=name')).body.items;
    expect(tools.map((t: { name: string }) => t.name)).toEqual(['fetch', 'time']);
    expect((await maintainer.put(`/api/v1/mcps/${tools[0].id}`, { description: 'mine now' })).status).toBe(403);
    expect((await maintainer.get('/api/v1/mcp/status')).status).toBe(403);
  });

  it('re-imports a changed file, and reports an invalid one without touching the registry', async () => {
    write('team.mcp.json', {
      mcpServers: {
        time: { command: 'uvx', args: ['mcp-server-time', '--local-timezone=UTC'] },
        fetch: { command: 'uvx', args: ['mcp-server-fetch'] },
      },
    });
    await eventually(
      async () => (await status()).files.find((f: { file: string }) => f.file === 'team.mcp.json')?.report?.updated?.length === 1,
    );
    const time = (await admin.get('/api/v1/mcps?q=time')).body.items[0];
    expect(time.latest_version).toBe('1.0.1');

    const before = (await admin.get('/api/v1/mcps')).body.total;
    write('broken.mcp.json', '{ "mcpServers": { "oops": ');
    write('bad.mcp.json', { mcpServers: { remote: { type: 'sse', url: 'ftp://nope' }, extra: { command: 'x' } } });
    await eventually(async () => (await status()).files.length === 3);
    const files = Object.fromEntries((await status()).files.map((f: { file: string }) => [f.file, f]));
    expect(files['broken.mcp.json']).toMatchObject({ status: 'invalid', error: expect.stringMatching(/not valid JSON/) });
    expect(files['bad.mcp.json']).toMatchObject({ status: 'invalid', error: expect.stringMatching(/http or https/) });
    expect(files['team.mcp.json'].status).toBe('unchanged');
    expect((await admin.get('/api/v1/mcps')).body.total).toBe(before);
  });

  it('keeps a server taken out of a file, and says so, even after the file was broken in between', async () => {
    write('team.mcp.json', '{ "mcpServers": ');
    await eventually(async () => (await status()).files.find((f: { file: string }) => f.file === 'team.mcp.json')?.status === 'invalid');
    write('team.mcp.json', { mcpServers: { time: { command: 'uvx', args: ['mcp-server-time', '--local-timezone=UTC'] } } });
    await eventually(async () => (await status()).files.find((f: { file: string }) => f.file === 'team.mcp.json')?.status === 'unchanged');
    const team = (await status()).files.find((f: { file: string }) => f.file === 'team.mcp.json');
    expect(team.report.notes).toEqual(['fetch: no longer in this file; the tool stays in the registry (delete it there if it should go)']);
    expect((await admin.get('/api/v1/mcps?name=fetch')).body.total).toBe(1);
    // Said once: the next reload compares with this one.
    const again = (await admin.post('/api/v1/mcp/reload')).body.files.find((f: { file: string }) => f.file === 'team.mcp.json');
    expect(again.report.notes).toEqual([]);
  });

  it('reports a file taken out of the directory while it is gone, keeping its tools', async () => {
    const entry = async (file: string) => (await status()).files.find((f: { file: string }) => f.file === file);
    write('extra.mcp.json', { mcpServers: { clock: { command: 'uvx', args: ['mcp-server-clock'] } } });
    await eventually(async () => (await entry('extra.mcp.json'))?.status === 'imported');
    rmSync(join(dir, 'extra.mcp.json'));
    await eventually(async () => (await entry('extra.mcp.json'))?.status === 'removed');
    expect(await entry('extra.mcp.json')).toMatchObject({
      report: { notes: ['clock: its file is gone; the tool stays in the registry (delete it there if it should go)'] },
    });
    expect((await admin.get('/api/v1/mcps?name=clock')).body.total).toBe(1);
    const again = (await admin.post('/api/v1/mcp/reload')).body.files.find((f: { file: string }) => f.file === 'extra.mcp.json');
    expect(again.status).toBe('removed');
    // Back again: read as any file, nothing reported as gone.
    write('extra.mcp.json', { mcpServers: { clock: { command: 'uvx', args: ['mcp-server-clock'] } } });
    await eventually(async () => (await entry('extra.mcp.json'))?.status === 'unchanged');
    expect((await entry('extra.mcp.json')).report.notes).toEqual([]);
  });

  it("imports an editor's mcp.json with comments and trailing commas (JSONC, as VS Code writes it)", async () => {
    write(
      'mcp.json',
      `{
  // this workspace's servers
  "servers": {
    "courtlistener": { "type": "stdio", "command": "node", "args": ["build/index.js"], },
    // "old": { "command": "node" },
  },
}`,
    );
    await eventually(async () => (await status()).files.find((f: { file: string }) => f.file === 'mcp.json')?.status === 'imported');
    expect((await admin.get('/api/v1/mcps?name=courtlistener')).body.total).toBe(1);
    // A change the diff flags (here another package behind npx) is said in the file's report.
    write('mcp.json', '{ "servers": { "courtlistener": { "command": "npx", "args": ["-y", "courtlistener-mcp@1.0.0"] } } }');
    await eventually(
      async () => (await status()).files.find((f: { file: string }) => f.file === 'mcp.json')?.report?.updated?.length === 1,
    );
    const report = (await status()).files.find((f: { file: string }) => f.file === 'mcp.json').report;
    expect(report.updated[0].warnings).toEqual(["launch target changed: command 'node' → npm package courtlistener-mcp"]);
  });

  it('reloads on demand', async () => {
    const r = await admin.post('/api/v1/mcp/reload');
    expect(r.status).toBe(200);
    expect(r.body.trigger).toBe('api');
    expect((await status()).trigger).toBe('api');
  });
});
