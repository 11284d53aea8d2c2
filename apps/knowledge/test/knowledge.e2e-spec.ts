import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import { eventTopology } from '#common';
import {
  ApiClient,
  isolate,
  mcpReadmes,
  startMongoCompatServer,
  startPlatform,
  type MongoCompatServer,
  type RunningPlatform,
  type TestIsolation,
} from '#testing';

const READMES = mcpReadmes();

async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > end) throw new Error(`condition not met in ${ms} ms; last value: ${JSON.stringify(value).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function markdownFile(name: string, content: string | Buffer, fields: Record<string, string> = {}, type = 'text/markdown'): FormData {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([content], { type }), name);
  return form;
}

const search = (client: ApiClient, query: string, extra: Record<string, unknown> = {}) =>
  client.post('/api/v1/knowledge/search', { query, ...extra });

/** A fresh platform (gateway, registry, knowledge) with an admin, two maintainers and a viewer signed in. */
async function knowledgePlatform(env: Record<string, string>) {
  const iso = isolate({
    BOOTSTRAP_ADMIN_USERNAME: 'boss',
    BOOTSTRAP_ADMIN_EMAIL: 'boss@example.com',
    BOOTSTRAP_ADMIN_PASSWORD: 'knowledge-admin-pass-1',
    ...env,
  });
  const platform = await startPlatform(iso.env, { only: ['gateway', 'registry', 'knowledge'] });
  return { iso, platform, u: await users(platform, 'knowledge-admin-pass-1') };
}

async function users(platform: RunningPlatform, adminPassword: string) {
  const api = new ApiClient(platform.baseUrl);
  const login = async (username: string, password: string) => {
    const r = await api.post('/api/v1/auth/login', { username, password });
    expect(r.status).toBe(200);
    return api.withToken(r.body.access_token);
  };
  const admin = await login('boss', adminPassword);
  for (const [username, role] of [
    ['maya', 'maintainer'],
    ['nick', 'maintainer'],
    ['vic', 'viewer'],
  ]) {
    const r = await admin.post('/api/v1/users', { username, email: `${username}@example.com`, password: 'long-enough-secret-1', role });
    expect(r.status).toBe(201);
  }
  return {
    anon: api,
    admin,
    maya: await login('maya', 'long-enough-secret-1'),
    nick: await login('nick', 'long-enough-secret-1'),
    vic: await login('vic', 'long-enough-secret-1'),
  };
}

/** Knowledge through the gateway, as clients use it: upload, list, search, update, delete, visibility, bad input, events. */
describe('knowledge (e2e, text search)', () => {
  let iso: TestIsolation;
  let platform: RunningPlatform;
  let u: Awaited<ReturnType<typeof users>>;
  const ids = new Map<string, string>();

  beforeAll(async () => {
    ({ iso, platform, u } = await knowledgePlatform({ KNOWLEDGE_MAX_DOCUMENT_BYTES: '50000', KNOWLEDGE_MAX_QUERY_LENGTH: '200' }));
  }, 120_000);

  afterAll(async () => {
    await platform?.stop();
    await iso?.cleanup();
  });

  it('accepts documents as JSON and as multipart uploads of .md, .txt and .json files', async () => {
    const uploaded = ['server-github', 'server-slack', 'server-memory'];
    for (const [name, body] of READMES) {
      const r = uploaded.includes(name)
        ? await u.maya.postForm(
            '/api/v1/knowledge/documents',
            markdownFile(`${name}.md`, body, { tags: 'reference,upload', visibility: 'public' }),
          )
        : await u.maya.post('/api/v1/knowledge/documents', { title: name, body, tags: ['reference'], visibility: 'public' });
      expect(r.status).toBe(201);
      ids.set(name, r.body.id);
      expect(r.body).toMatchObject({
        source: uploaded.includes(name) ? 'upload' : 'api',
        size_bytes: Buffer.byteLength(body),
        owner_id: expect.any(String),
      });
      expect(r.body.chunks.length).toBeGreaterThan(0);
      expect(r.body.embedding_status).toBe('disabled');
    }
    // A multipart upload without a title takes the first heading.
    const github = await u.maya.get(`/api/v1/knowledge/documents/${ids.get('server-github')}`);
    expect(github.body.title).toBe('GitHub MCP Server');
    const txt = await u.maya.postForm(
      '/api/v1/knowledge/documents',
      markdownFile('notes.txt', 'Plain notes about quasar telemetry.', {}, 'text/plain'),
    );
    expect(txt.status).toBe(201);
    expect(txt.body).toMatchObject({ title: 'notes', content_type: 'text/plain' });
    const json = await u.maya.postForm(
      '/api/v1/knowledge/documents',
      markdownFile(
        'config.json',
        JSON.stringify({ mcpServers: { quasar: { command: 'quasar-mcp' } } }),
        { title: 'Quasar config' },
        'application/json',
      ),
    );
    expect(json.status).toBe(201);
    expect(json.body.content_type).toBe('application/json');
  });

  it('lists documents with pagination and filters, without bodies', async () => {
    const page = await u.nick.get('/api/v1/knowledge/documents?page=1&page_size=5&tag=reference');
    expect(page.status).toBe(200);
    expect(page.body.total).toBe(READMES.size);
    expect(page.body.items).toHaveLength(5);
    expect(page.body.items[0].body).toBeUndefined();
    // The .txt and .json uploads are private (the default): their owner sees them, others do not.
    expect((await u.nick.get('/api/v1/knowledge/documents?source=upload&page_size=100')).body.total).toBe(3);
    expect((await u.maya.get('/api/v1/knowledge/documents?source=upload&page_size=100')).body.total).toBe(5);
    expect((await u.nick.get('/api/v1/knowledge/documents?page_size=101')).status).toBe(400);
  });

  it.each([
    ['read-only SQL queries against a PostgreSQL database', 'server-postgres'],
    ['take a screenshot of a web page in a browser', 'server-puppeteer'],
    ['create a pull request on GitHub', 'server-github'],
    ['geocode an address into coordinates', 'server-google-maps'],
    ['post a message to a Slack channel', 'server-slack'],
    ['knowledge graph entities and relations', 'server-memory'],
  ])('search ranks the right README first for "%s"', async (query, expected) => {
    const r = await search(u.vic, query);
    expect(r.status).toBe(200);
    expect(r.body.mode).toBe('text');
    expect(r.body.items[0].document_id).toBe(ids.get(expected));
    expect(r.body.items[0].snippet_html).toContain('<mark>');
    expect(r.body.items[0].chunk.text.length).toBeGreaterThan(0);
  });

  it('re-chunks on update and finds the new content; after delete the document is gone', async () => {
    const id = ids.get('server-postgres')!;
    const before = await u.maya.get(`/api/v1/knowledge/documents/${id}`);
    const body = `${before.body.body}\n\n## Replication\n\nStreams write-ahead log changes to logical replicas.`;
    const put = await u.maya.put(`/api/v1/knowledge/documents/${id}`, { body, tags: ['reference', 'sql'] });
    expect(put.status).toBe(200);
    expect(put.body.chunks.length).toBe(before.body.chunks.length + 1);
    expect(put.body.content_hash).not.toBe(before.body.content_hash);
    const hit = await search(u.nick, 'logical replicas');
    expect(hit.body.items[0]).toMatchObject({ document_id: id, chunk: { heading: 'Replication' } });
    expect((await search(u.nick, 'logical replicas', { filters: { tags: ['sql'] } })).body.items).toHaveLength(1);

    expect((await u.maya.delete(`/api/v1/knowledge/documents/${id}`)).status).toBe(200);
    expect((await u.maya.get(`/api/v1/knowledge/documents/${id}`)).status).toBe(404);
    const after = await search(u.nick, 'logical replicas PostgreSQL');
    expect(after.body.items.map((i: { document_id: string }) => i.document_id)).not.toContain(id);
  });

  it('enforces visibility and ownership', async () => {
    const secret = await u.nick.post('/api/v1/knowledge/documents', { title: 'Nick private runbook', body: 'Rotating the zanzibar keys.' });
    expect(secret.status).toBe(201);
    expect(secret.body.visibility).toBe('private');
    const id = secret.body.id;
    expect((await u.maya.get(`/api/v1/knowledge/documents/${id}`)).status).toBe(404);
    expect((await search(u.maya, 'zanzibar')).body).toMatchObject({ items: [], total: 0 });
    expect((await search(u.nick, 'zanzibar')).body.items[0].document_id).toBe(id);
    expect((await search(u.admin, 'zanzibar')).body.items[0].document_id).toBe(id);
    expect((await u.maya.put(`/api/v1/knowledge/documents/${id}`, { title: 'x' })).status).toBe(404);
    const mayas = ids.get('server-redis')!;
    expect((await u.nick.put(`/api/v1/knowledge/documents/${mayas}`, { title: 'mine' })).status).toBe(403);
    expect((await u.nick.delete(`/api/v1/knowledge/documents/${mayas}`)).status).toBe(403);
    expect((await u.vic.post('/api/v1/knowledge/documents', { title: 't', body: 'b' })).status).toBe(403);
    expect((await u.admin.put(`/api/v1/knowledge/documents/${mayas}`, { visibility: 'private' })).status).toBe(200);
    expect((await u.nick.get(`/api/v1/knowledge/documents/${mayas}`)).status).toBe(404);
    for (const [method, path] of [
      ['GET', '/api/v1/knowledge/documents'],
      ['POST', '/api/v1/knowledge/search'],
      ['POST', '/api/v1/knowledge/documents'],
      ['DELETE', `/api/v1/knowledge/documents/${mayas}`],
    ])
      expect((await u.anon.request(method, path, { json: method === 'GET' || method === 'DELETE' ? undefined : {} })).status).toBe(401);
  });

  it('answers bad input with a 4xx naming the problem, and writes nothing', async () => {
    const count = async () => (await u.admin.get('/api/v1/knowledge/documents?page_size=1')).body.total as number;
    const before = await count();
    const cases: [Promise<{ status: number; body: { error: { message: string } } }>, number, RegExp][] = [
      [u.maya.post('/api/v1/knowledge/documents', { body: 'no title' }), 400, /title/],
      [u.maya.post('/api/v1/knowledge/documents', { title: 't', body: 'b', color: 'red' }), 400, /color/],
      [u.maya.post('/api/v1/knowledge/documents', { title: 't', body: 'b', tags: ['Not OK'] }), 400, /tags/],
      [u.maya.post('/api/v1/knowledge/documents', { title: 't', body: '' }), 400, /body/],
      [u.maya.post('/api/v1/knowledge/documents', { title: 't', body: 'x'.repeat(50_001) }), 413, /KNOWLEDGE_MAX_DOCUMENT_BYTES/],
      [u.maya.post('/api/v1/knowledge/documents', { title: 't', body: '{nope', content_type: 'application/json' }), 400, /JSON/],
      [u.maya.post('/api/v1/knowledge/documents', { title: 't', body: 'b', tool_ids: [randomUUID()] }), 422, /tool/],
      [u.maya.post('/api/v1/knowledge/documents', { title: 't', body: 'b', tool_ids: ['nope'] }), 400, /UUID/],
      [u.maya.postForm('/api/v1/knowledge/documents', markdownFile('paper.pdf', '%PDF-1.7', {}, 'application/pdf')), 415, /\.pdf.*\.md/],
      [
        u.maya.postForm(
          '/api/v1/knowledge/documents',
          (() => {
            const f = new FormData();
            f.append('title', 'x');
            return f;
          })(),
        ),
        400,
        /file/,
      ],
      [u.maya.postForm('/api/v1/knowledge/documents', markdownFile('big.md', 'y'.repeat(50_001))), 413, /size limit/],
      [u.maya.postForm('/api/v1/knowledge/documents', markdownFile('latin1.md', Buffer.from([0x63, 0x61, 0x66, 0xe9]))), 400, /UTF-8/],
      [u.maya.get('/api/v1/knowledge/documents/not-a-uuid'), 400, /doc_id/],
      [u.maya.get(`/api/v1/knowledge/documents/${randomUUID()}`), 404, /No document/],
      [u.maya.put(`/api/v1/knowledge/documents/${ids.get('server-slack')}`, {}), 400, /at least one field/],
      [search(u.maya, ''), 400, /query/],
      [search(u.maya, 'x'.repeat(201)), 400, /KNOWLEDGE_MAX_QUERY_LENGTH/],
      [search(u.maya, 'slack', { page_size: 51 }), 400, /page_size/],
      [search(u.maya, 'slack', { filters: { source: ['ftp'] } }), 400, /source/],
    ];
    for (const [request, status, message] of cases) {
      const r = await request;
      expect({ status: r.status, message: r.body.error?.message }).toEqual({ status, message: expect.stringMatching(message) });
    }
    expect(await count()).toBe(before);
  });

  it('links documents to registry tools and drops the link when the tool is deleted', async () => {
    const tool = await u.maya.post('/api/v1/mcps', { name: `weather-${Date.now()}`, description: 'Weather tools' });
    expect(tool.status).toBe(201);
    const doc = await u.maya.post('/api/v1/knowledge/documents', {
      title: 'Weather usage',
      body: 'Forecast usage notes.',
      tool_ids: [tool.body.id],
      visibility: 'public',
    });
    expect(doc.status).toBe(201);
    expect((await u.nick.get(`/api/v1/knowledge/documents?tool_id=${tool.body.id}`)).body.total).toBe(1);
    expect((await u.maya.delete(`/api/v1/mcps/${tool.body.id}`)).status).toBe(200);
    await eventually(
      () => u.nick.get(`/api/v1/knowledge/documents/${doc.body.id}`),
      (r) => r.body.tool_ids.length === 0,
    );
  });

  it('creates and updates documents from github-sync events, idempotently', async () => {
    const conn = await amqplib.connect(iso.config.amqp.url);
    const ch = await conn.createConfirmChannel();
    const publish = (content: string) =>
      new Promise<void>((ok, fail) =>
        ch.publish(
          eventTopology(iso.config.namespace).exchange,
          'github.document.published',
          Buffer.from(
            JSON.stringify({
              id: randomUUID(),
              key: 'github.document.published',
              occurred_at: new Date().toISOString(),
              payload: {
                repository: 'acme/tides-mcp',
                path: 'docs/usage.md',
                ref: 'main',
                content,
                content_type: 'text/markdown',
                owner_id: 'github-owner',
                visibility: 'public',
                tool_ids: [],
              },
            }),
          ),
          { persistent: true },
          (err: unknown) => (err ? fail(err instanceof Error ? err : new Error('publish was not confirmed')) : ok()),
        ),
      );
    try {
      await publish('# Tides MCP\n\nHigh and low tide predictions for harbours.');
      await publish('# Tides MCP\n\nHigh and low tide predictions for harbours.');
      const listed = await eventually(
        () => u.nick.get('/api/v1/knowledge/documents?source=github'),
        (r) => r.body.total === 1,
      );
      expect(listed.body.items[0]).toMatchObject({
        title: 'Tides MCP',
        source_ref: { repository: 'acme/tides-mcp', path: 'docs/usage.md' },
      });
      await publish('# Tides MCP\n\nHigh and low tide predictions, now with moon phases.');
      await eventually(
        () => search(u.nick, 'moon phases'),
        (r) => r.body.items[0]?.document_id === listed.body.items[0].id,
      );
      expect((await u.nick.get('/api/v1/knowledge/documents?source=github')).body.total).toBe(1);
    } finally {
      await conn.close();
    }
  });

  it('documents every knowledge route in OpenAPI', async () => {
    const docs = await u.anon.get('/api/docs-json');
    for (const path of ['/api/v1/knowledge/documents', '/api/v1/knowledge/documents/{doc_id}', '/api/v1/knowledge/search'])
      expect(docs.body.paths[path]).toBeDefined();
  });
});

describe('knowledge (e2e, hybrid search with an embedding provider)', () => {
  let iso: TestIsolation;
  let platform: RunningPlatform;
  let u: Awaited<ReturnType<typeof users>>;

  beforeAll(async () => {
    ({ iso, platform, u } = await knowledgePlatform({ EMBEDDINGS_PROVIDER: 'hashing' }));
  }, 120_000);

  afterAll(async () => {
    await platform?.stop();
    await iso?.cleanup();
  });

  it('embeds documents in background jobs and answers in hybrid mode', async () => {
    const created: Record<string, string> = {};
    for (const name of ['server-postgres', 'server-redis', 'server-puppeteer', 'server-google-maps']) {
      const r = await u.maya.post('/api/v1/knowledge/documents', { title: name, body: READMES.get(name), visibility: 'public' });
      expect(r.status).toBe(201);
      expect(r.body.embedding_status).toBe('pending');
      created[name] = r.body.id;
    }
    for (const id of Object.values(created))
      await eventually(
        () => u.maya.get(`/api/v1/knowledge/documents/${id}`),
        (r) => r.body.embedding_status === 'ready',
      );
    const r = await u.vic.post('/api/v1/knowledge/search', { query: 'browser screenshots of web pages' });
    expect(r.status).toBe(200);
    expect(r.body.mode).toBe('hybrid');
    expect(r.body.items[0].document_id).toBe(created['server-puppeteer']);
  });
});

describe('knowledge (e2e, MongoDB outage)', () => {
  let iso: TestIsolation;
  let platform: RunningPlatform;
  let u: Awaited<ReturnType<typeof users>>;
  let mongo: MongoCompatServer;

  beforeAll(async () => {
    mongo = await startMongoCompatServer();
    ({ iso, platform, u } = await knowledgePlatform({ MONGO_URL: `${mongo.url}/mcp` }));
  }, 120_000);

  afterAll(async () => {
    await platform?.stop();
    await iso?.cleanup();
    await mongo?.close();
  });

  it('answers 503 naming MongoDB while it is down, and serves again once it is back', async () => {
    const doc = await u.maya.post('/api/v1/knowledge/documents', {
      title: 'Outage notes',
      body: 'Ferry timetables.',
      visibility: 'public',
    });
    expect(doc.status).toBe(201);
    const port = mongo.port;
    await mongo.close();
    const down = await search(u.vic, 'ferry');
    expect(down.status).toBe(503);
    expect(down.body.error.message).toMatch(/knowledge.*MongoDB/);
    expect((await u.maya.post('/api/v1/knowledge/documents', { title: 'Lost?', body: 'No.' })).status).toBe(503);
    // Back (empty: the dev server is in-memory): the same service instance reconnects by itself.
    mongo = await startMongoCompatServer({ port });
    await eventually(
      () => search(u.vic, 'ferry'),
      (r) => r.status === 200,
      20_000,
    );
  });
});
