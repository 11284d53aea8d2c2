import mysql from 'mysql2/promise';
import { databaseName } from '#common';
import { ApiClient, freePort, isolate, startPlatform, until, type RunningPlatform, type TestIsolation } from '#testing';

/**
 * Creates, publishes and imports sent with an Idempotency-Key, through the gateway: a repeat gets the first
 * answer and changes nothing, whether it comes after the first finished or races it.
 */
describe('Idempotency-Key on creates, publishes and imports (e2e)', () => {
  let iso: TestIsolation;
  let platform: RunningPlatform;
  let api: ApiClient;
  let olivia: ApiClient;
  let oscar: ApiClient;
  let db: mysql.Connection;
  let metricsPort: number;
  const TTL_S = 4;
  const PASSWORD = 'idempotent-secret-1';

  beforeAll(async () => {
    metricsPort = await freePort();
    iso = isolate({
      METRICS_PORT: String(metricsPort),
      BOOTSTRAP_ADMIN_USERNAME: 'idem-admin',
      BOOTSTRAP_ADMIN_EMAIL: 'idem-admin@example.com',
      BOOTSTRAP_ADMIN_PASSWORD: 'once-only-secret-1',
      IDEMPOTENCY_KEY_TTL_S: String(TTL_S),
    });
    platform = await startPlatform(iso.env, { only: ['gateway', 'registry'] });
    api = new ApiClient(platform.baseUrl);
    const admin = api.withToken(
      (await api.post('/api/v1/auth/login', { username: 'idem-admin', password: 'once-only-secret-1' })).body.access_token,
    );
    for (const username of ['olivia', 'oscar'])
      expect(
        (await admin.post('/api/v1/users', { username, email: `${username}@example.com`, password: PASSWORD, role: 'maintainer' })).status,
      ).toBe(201);
    const login = async (username: string) =>
      api.withToken((await api.post('/api/v1/auth/login', { username, password: PASSWORD })).body.access_token);
    [olivia, oscar] = [await login('olivia'), await login('oscar')];
    db = await mysql.createConnection({
      host: iso.config.mysql.host,
      port: iso.config.mysql.port,
      user: iso.config.mysql.user,
      password: iso.config.mysql.password,
      database: databaseName(iso.config, 'registry'),
    });
  }, 120_000);

  afterAll(async () => {
    await db?.end();
    await platform?.stop();
    await iso?.cleanup();
  }, 60_000);

  const key = (k: string) => ({ 'idempotency-key': k });
  const replayed = (r: { headers: Headers }) => r.headers.get('idempotent-replayed');
  const count = async (sql: string, params: unknown[]) => Number(((await db.query(sql, params))[0] as { n: number }[])[0].n);
  const history = async (client: ApiClient, id: string) =>
    ((await client.get(`/api/v1/mcps/${id}/history?page_size=100`)).body.items as { action: string }[]).map((h) => h.action);

  it('answers a repeated create with the tool it created, and creates nothing more', async () => {
    const first = await olivia.post('/api/v1/mcps', { name: 'once-tool', description: 'first' }, key('create-once-1'));
    expect(first.status).toBe(201);
    expect(replayed(first)).toBeNull();
    const again = await olivia.post('/api/v1/mcps', { name: 'once-tool', description: 'first' }, key('create-once-1'));
    expect(again.status).toBe(201);
    // The first answer, said to be a replay in a header and not in the body (here, on MariaDB, byte for byte).
    expect(again.text).toBe(first.text);
    expect(replayed(again)).toBe('true');
    expect(await count('SELECT COUNT(*) AS n FROM tools WHERE name = ?', ['once-tool'])).toBe(1);
    expect(await history(olivia, first.body.id)).toEqual(['tool.created']);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^registry_idempotent_replays_total\{operation="tool\.create",service="registry"\} 1$/m);

    // Without the key, the same body is a new request: the name is taken.
    expect((await olivia.post('/api/v1/mcps', { name: 'once-tool', description: 'first' })).status).toBe(409);
  });

  it('refuses a key reused with another body (422 naming the header) and writes nothing', async () => {
    const first = await olivia.post('/api/v1/mcps', { name: 'reused-key-a' }, key('create-reused'));
    expect(first.status).toBe(201);
    const other = await olivia.post('/api/v1/mcps', { name: 'reused-key-b' }, key('create-reused'));
    expect(other.status).toBe(422);
    expect(other.body.error.message).toMatch(/Idempotency-Key 'create-reused' was already used for another request/);
    expect(other.body.error.details).toEqual([expect.objectContaining({ field: 'Idempotency-Key' })]);
    expect(await count('SELECT COUNT(*) AS n FROM tools WHERE name = ?', ['reused-key-b'])).toBe(0);

    // The same key for another operation is refused too.
    const publish = await olivia.post(`/api/v1/mcps/${first.body.id}/versions`, stdio('1.0.0'), key('create-reused'));
    expect(publish.status).toBe(422);
    expect(publish.body.error.message).toMatch(/\(tool\.create\)/);
    expect(await count('SELECT COUNT(*) AS n FROM tool_versions WHERE tool_id = ?', [first.body.id])).toBe(0);
  });

  it("keeps each user's keys apart", async () => {
    expect((await olivia.post('/api/v1/mcps', { name: 'olivias-tool' }, key('shared-words'))).status).toBe(201);
    const theirs = await oscar.post('/api/v1/mcps', { name: 'oscars-tool' }, key('shared-words'));
    expect(theirs.status).toBe(201);
    expect(theirs.body).toMatchObject({ name: 'oscars-tool' });
  });

  it('answers requests racing with one key with one change', async () => {
    const body = { name: 'raced-tool', description: 'at once' };
    const answers = await Promise.all(Array.from({ length: 8 }, () => olivia.post('/api/v1/mcps', body, key('create-race'))));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(201));
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    // One of them made the change; the others were given its answer.
    expect(answers.filter((a) => replayed(a) === null)).toHaveLength(1);
    expect(await count('SELECT COUNT(*) AS n FROM tools WHERE name = ?', ['raced-tool'])).toBe(1);

    const id = answers[0].body.id as string;
    const published = await Promise.all(
      Array.from({ length: 8 }, () => olivia.post(`/api/v1/mcps/${id}/versions`, stdio('1.0.0'), key('publish-race'))),
    );
    expect(published.map((a) => a.status)).toEqual(Array(8).fill(201));
    expect(new Set(published.map((a) => a.text)).size).toBe(1);
    expect(published.filter((a) => replayed(a) === null)).toHaveLength(1);
    expect(await history(olivia, id)).toEqual(['tool.created', 'version.published']);
  });

  it('answers a repeated publish with the version it published; without the key a repeat is the 409 it was', async () => {
    const tool = await olivia.post('/api/v1/mcps', { name: 'publish-once' });
    const first = await olivia.post(`/api/v1/mcps/${tool.body.id}/versions`, stdio('2.0.0'), key('publish-once-1'));
    expect(first.status).toBe(201);
    expect(replayed(first)).toBeNull();
    const again = await olivia.post(`/api/v1/mcps/${tool.body.id}/versions`, stdio('2.0.0'), key('publish-once-1'));
    expect(again.status).toBe(201);
    expect(again.text).toBe(first.text);
    expect(replayed(again)).toBe('true');
    const plain = await olivia.post(`/api/v1/mcps/${tool.body.id}/versions`, stdio('2.0.0'));
    expect(plain.status).toBe(409);
    expect(plain.body.error.details).toMatchObject({ same_content: true });
    // Another version under the same key is another request.
    expect((await olivia.post(`/api/v1/mcps/${tool.body.id}/versions`, stdio('2.0.1'), key('publish-once-1'))).status).toBe(422);
    expect(await count('SELECT COUNT(*) AS n FROM tool_versions WHERE tool_id = ?', [tool.body.id])).toBe(1);
  });

  it('answers a repeated import with its report, and keeps no key for a dry run', async () => {
    const document = { mcpServers: { 'imported-once': { command: 'npx', args: ['-y', '@acme/imported-once@1.2.0'] } } };
    // A dry run changes nothing and keeps nothing: the real import with the same key runs.
    const dry = await olivia.post('/api/v1/mcps/import', { document, dry_run: true }, key('import-once'));
    expect(dry.status).toBe(200);
    expect(dry.body.created).toEqual([expect.objectContaining({ name: 'imported-once', tool_id: null })]);
    const first = await olivia.post('/api/v1/mcps/import', { document }, key('import-once'));
    expect(first.status).toBe(200);
    expect(first.body.created).toEqual([expect.objectContaining({ name: 'imported-once', tool_id: expect.any(String) })]);
    // Repeated: the same report (created, not "skipped: unchanged"), and nothing more written.
    const again = await olivia.post('/api/v1/mcps/import', { document }, key('import-once'));
    expect(again.text).toBe(first.text);
    expect([replayed(dry), replayed(first), replayed(again)]).toEqual([null, null, 'true']);
    expect(await count('SELECT COUNT(*) AS n FROM tool_versions WHERE tool_id = ?', [first.body.created[0].tool_id])).toBe(1);
    // Without the key a repeat is a new import, which finds nothing to do.
    const plain = await olivia.post('/api/v1/mcps/import', { document });
    expect(plain.body).toMatchObject({ created: [], skipped: [expect.objectContaining({ name: 'imported-once' })] });
    expect((await olivia.post('/api/v1/mcps/import', { document, visibility: 'public' }, key('import-once'))).status).toBe(422);
  });

  it('documents the request header and the replay header in the OpenAPI document', async () => {
    const doc = (await api.get('/api/docs-json')).body as {
      paths: Record<string, { post: { parameters: { name: string; in: string }[]; responses: Record<string, { headers?: object }> } }>;
    };
    for (const [path, status] of [
      ['/api/v1/mcps', '201'],
      ['/api/v1/mcps/{tool_id}/versions', '201'],
      ['/api/v1/mcps/import', '200'],
    ]) {
      const post = doc.paths[path].post;
      expect(post.parameters).toContainEqual(expect.objectContaining({ name: 'Idempotency-Key', in: 'header' }));
      expect(Object.keys(post.responses[status].headers ?? {})).toEqual(['Idempotent-Replayed']);
    }
  });

  it('keeps no error answer: a request refused once is done when repeated after the cause is gone', async () => {
    const holder = await oscar.post('/api/v1/mcps', { name: 'wanted-name' });
    const refused = await olivia.post('/api/v1/mcps', { name: 'wanted-name' }, key('create-after-rename'));
    expect(refused.status).toBe(409);
    expect((await oscar.put(`/api/v1/mcps/${holder.body.id}`, { name: 'given-up-name' })).status).toBe(200);
    const done = await olivia.post('/api/v1/mcps', { name: 'wanted-name' }, key('create-after-rename'));
    expect(done.status).toBe(201);
    expect(done.body.owner_id).not.toBe(holder.body.owner_id);

    // Authorization comes first: another user's (private) tool is not found, whatever the key.
    const foreign = await oscar.post(`/api/v1/mcps/${done.body.id}/versions`, stdio('1.0.0'), key('not-mine'));
    expect(foreign.status).toBe(404);
  });

  it('checks the header: empty or too long is a 400 naming it', async () => {
    for (const bad of ['', 'k'.repeat(256)]) {
      const r = await olivia.post('/api/v1/mcps', { name: 'never-created' }, key(bad));
      expect(r.status).toBe(400);
      expect(r.body.error.message).toMatch(/^Invalid header Idempotency-Key: must/);
    }
    const tab = await olivia.post('/api/v1/mcps', { name: 'never-created' }, key('a\tb'));
    expect(tab.status).toBe(400);
    expect(await count('SELECT COUNT(*) AS n FROM tools WHERE name = ?', ['never-created'])).toBe(0);
  });

  it('forgets a key after IDEMPOTENCY_KEY_TTL_S, and purges expired records', async () => {
    const body = { name: 'short-lived' };
    expect((await olivia.post('/api/v1/mcps', body, key('short-lived-key'))).status).toBe(201);
    await new Promise((r) => setTimeout(r, (TTL_S + 0.5) * 1000));
    // Done again, as a new request: the name is now taken.
    expect((await olivia.post('/api/v1/mcps', body, key('short-lived-key'))).status).toBe(409);
    // The registry purges every TTL (at most 10 minutes): the table empties once no key is fresh.
    await until(
      async () => (await count('SELECT COUNT(*) AS n FROM idempotency_keys', [])) === 0,
      'expired keys purged',
      (TTL_S * 3 + 2) * 1000,
      250,
    );
  }, 30_000);
});

function stdio(version: string) {
  return { version, changelog: `release ${version}`, config: { type: 'stdio', command: 'node', args: ['server.js'] } };
}
