/**
 * The knowledge service's documents and search through mongoose, against the MongoDB-compatible
 * dev server (or, unchanged, a real MongoDB when MONGO_URL is set), with real Redis for the
 * embedding queue.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { Redis } from 'ioredis';
import type { Actor } from '#contracts';
import {
  EventBus,
  HealthRegistry,
  JsonLogger,
  loadConfig,
  metricsRegistry,
  ProcessedMessageStore,
  RpcClient,
  type AppConfig,
} from '#common';
import { isolate, mcpReadmes, startMongoCompatServer, type MongoCompatServer, type TestIsolation } from '#testing';
import { KnowledgeStore } from '../src/database/knowledge-store';
import { DocumentsService } from '../src/documents/documents.service';
import { EmbeddingsService } from '../src/embeddings/embeddings.service';
import { HashingEmbeddings } from '../src/embeddings/providers';
import { SearchService } from '../src/search/search.service';

const READMES = mcpReadmes();
const readme = (name: string) => READMES.get(name) ?? '';

/** A local HTTP peer answering POST `path` with `answer(json body)`: stands in for an embedding API. */
async function jsonPeer(
  path: string,
  answer: (body: never, headers: IncomingHttpHeaders) => Promise<unknown>,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      if (req.url !== path) {
        res.writeHead(404).end();
        return;
      }
      void answer(JSON.parse(raw) as never, req.headers).then((reply) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply)),
      );
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((ok) => server.close(() => ok())) };
}

const alice: Actor = { user_id: 'alice', role: 'maintainer', via: 'jwt' };
const bob: Actor = { user_id: 'bob', role: 'maintainer', via: 'jwt' };
const admin: Actor = { user_id: 'root', role: 'admin', via: 'jwt' };

interface Knowledge {
  config: AppConfig;
  store: KnowledgeStore;
  embeddings: EmbeddingsService;
  documents: DocumentsService;
  search: SearchService;
  close(): Promise<void>;
}

async function knowledge(iso: TestIsolation, mongoUrl: string, env: Record<string, string> = {}): Promise<Knowledge> {
  const config = loadConfig({ ...iso.env, MONGO_URL: mongoUrl, ...env });
  const logger = new JsonLogger('knowledge', 'warn');
  const store = new KnowledgeStore(config, new HealthRegistry(), logger);
  await store.onModuleInit();
  const redis = new Redis(config.redisUrl, { keyPrefix: `${config.namespace}:` });
  const embeddings = new EmbeddingsService(config, store, logger, redis);
  await embeddings.onModuleInit();
  const documents = new DocumentsService(
    config,
    store,
    embeddings,
    new EventBus(config, logger, new ProcessedMessageStore(redis)),
    new RpcClient(config),
    logger,
  );
  const search = new SearchService(config, store, embeddings, logger);
  return {
    config,
    store,
    embeddings,
    documents,
    search,
    close: async () => {
      await embeddings.onApplicationShutdown();
      await store.onApplicationShutdown();
      redis.disconnect();
    },
  };
}

const create = (k: Knowledge, actor: Actor, title: string, body: string, extra: Record<string, unknown> = {}) =>
  k.documents.create(
    { title, body, content_type: 'text/markdown', tags: [], tool_ids: [], visibility: 'public', source: 'api', ...extra } as never,
    actor,
  );
const search = (k: Knowledge, actor: Actor, query: string, extra: Record<string, unknown> = {}) =>
  k.search.search({ query, filters: {}, page: 1, page_size: 10, ...extra }, actor);

describe('knowledge service (integration, mongoose over the wire protocol)', () => {
  let iso: TestIsolation;
  let server: MongoCompatServer | undefined;
  let mongoUrl: string;
  let k: Knowledge;
  const ids = new Map<string, string>();

  beforeAll(async () => {
    iso = isolate({ KNOWLEDGE_MAX_DOCUMENT_BYTES: '65536', KNOWLEDGE_MAX_QUERY_LENGTH: '200' });
    if (process.env.MONGO_URL) mongoUrl = process.env.MONGO_URL;
    else {
      server = await startMongoCompatServer();
      mongoUrl = server.url;
    }
    k = await knowledge(iso, mongoUrl);
    for (const [name, body] of READMES) {
      const doc = await create(k, alice, body.split('\n')[0]?.replace(/^#\s*/, '') ?? name, body, { tags: ['reference'] });
      ids.set(name, doc.id);
    }
  });

  afterAll(async () => {
    await k.close();
    await iso.cleanup();
    await server?.close();
  });

  it('stores documents with their chunks, hash and size; chunk ids survive an edit elsewhere in the document', async () => {
    const id = ids.get('server-filesystem')!;
    const doc = await k.documents.get(id, bob);
    expect(doc.size_bytes).toBe(Buffer.byteLength(readme('server-filesystem')));
    expect(doc.chunks.length).toBeGreaterThan(5);
    // Chunks tile the body in order, without overlaps.
    for (let i = 1; i < doc.chunks.length; i++) expect(doc.chunks[i].start).toBeGreaterThanOrEqual(doc.chunks[i - 1].end);
    expect(doc.chunks.some((c) => c.heading === 'Features')).toBe(true);
    const edited = await k.documents.update(id, { body: `${doc.body}\n\n## Appendix\n\nA paragraph added at the end.` }, alice);
    expect(edited.content_hash).not.toBe(doc.content_hash);
    const before = new Set(doc.chunks.map((c) => c.id));
    expect(edited.chunks.filter((c) => before.has(c.id)).length).toBe(doc.chunks.length);
    expect(edited.chunks.length).toBe(doc.chunks.length + 1);
  });

  it.each([
    ['read-only SQL queries against a PostgreSQL database', 'server-postgres'],
    ['take a screenshot of a web page in a browser', 'server-puppeteer'],
    ['knowledge graph entities and relations', 'server-memory'],
    ['geocode an address into coordinates', 'server-google-maps'],
    ['post a message to a Slack channel', 'server-slack'],
    ['move files and list directories', 'server-filesystem'],
    ['Redis key-value store', 'server-redis'],
    ['dynamic and reflective problem-solving', 'server-sequential-thinking'],
    ['merge request in a GitLab project', 'server-gitlab'],
    ['web search with the Brave Search API', 'server-brave-search'],
  ])('ranks the right README first for "%s"', async (query, expected) => {
    const result = await search(k, bob, query);
    expect(result.mode).toBe('text');
    expect(result.items[0]?.document_id).toBe(ids.get(expected));
    const top = result.items[0];
    expect(top.score).toBeGreaterThan(0);
    expect(top.highlights.length).toBeGreaterThan(0);
    for (const [start, end] of top.highlights) expect(top.snippet.slice(start, end)).toMatch(/^[\p{L}\p{N}]+$/u);
    expect(top.snippet_html).toContain('<mark>');
  });

  it('returns the matching chunk with an escaped, highlighted snippet', async () => {
    const result = await search(k, bob, 'capture a screenshot');
    const hit = result.items[0];
    expect(hit.document_id).toBe(ids.get('server-puppeteer'));
    expect(hit.chunk.text).toContain('Capture screenshots');
    expect(hit.snippet).toContain('screenshot');
    expect(hit.snippet_html).not.toMatch(/<(?!\/?mark>)/);
  });

  it('shows only what the caller may see, applies filters and paginates', async () => {
    const secret = await create(k, alice, 'Internal runbook', 'How we rotate the zanzibar credentials of the staging cluster.', {
      visibility: 'private',
      tags: ['ops'],
    });
    expect((await search(k, bob, 'zanzibar')).items).toHaveLength(0);
    expect((await search(k, bob, 'zanzibar')).total).toBe(0);
    expect((await search(k, alice, 'zanzibar credentials')).items[0]?.document_id).toBe(secret.id);
    expect((await search(k, admin, 'zanzibar credentials')).items[0]?.document_id).toBe(secret.id);
    await expect(k.documents.get(secret.id, bob)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(k.documents.update(ids.get('server-redis')!, { title: 'mine now' }, bob)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect((await search(k, alice, 'credentials', { filters: { tags: ['ops'] } })).items.map((i) => i.document_id)).toEqual([secret.id]);
    expect((await search(k, alice, 'credentials', { filters: { source: ['github'] } })).items).toHaveLength(0);
    const all = await search(k, bob, 'server', { page_size: 5 });
    const second = await search(k, bob, 'server', { page_size: 5, page: 2 });
    expect(all.total).toBeGreaterThan(10);
    expect(all.items).toHaveLength(5);
    expect(second.items.map((i) => i.document_id).filter((id) => all.items.some((a) => a.document_id === id))).toEqual([]);
    const listed = await k.documents.list({ page: 1, page_size: 100, tag: 'ops' }, bob);
    expect(listed.total).toBe(0);
  });

  it('refuses bad input with the limit named, and writes nothing', async () => {
    const before = await k.store.documents.countDocuments();
    await expect(create(k, alice, 'big', 'x'.repeat(65_537))).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      message: expect.stringContaining('KNOWLEDGE_MAX_DOCUMENT_BYTES'),
    });
    await expect(create(k, alice, 'bad json', '{"a": ', { content_type: 'application/json' })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    await expect(create(k, { ...alice, role: 'viewer' }, 'viewer doc', 'text')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(search(k, bob, 'x'.repeat(201))).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('200'),
    });
    await expect(k.documents.update(ids.get('server-slack')!, { body: 'y'.repeat(65_537) }, alice)).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
    expect(await k.store.documents.countDocuments()).toBe(before);
    expect((await k.documents.get(ids.get('server-slack')!, alice)).body).toBe(readme('server-slack'));
  });

  it('ingests GitHub files idempotently (repository + path + content hash) and drops links of deleted tools', async () => {
    const toolId = '7b0f6d32-3a8e-4c55-9a43-3f1b9a7f0c11';
    const event = {
      repository: 'acme/weather-mcp',
      path: 'README.md',
      ref: 'main',
      content: '# Weather MCP\n\nForecasts and barometric pressure alerts for any city.',
      content_type: 'text/markdown' as const,
      owner_id: 'alice',
      visibility: 'public' as const,
      tool_ids: [toolId],
    };
    expect(await k.documents.ingestGithub(event)).toBe('created');
    expect(await k.documents.ingestGithub(event)).toBe('unchanged');
    const [doc] = (await k.documents.list({ page: 1, page_size: 10, source: 'github' }, bob)).items;
    expect(doc).toMatchObject({
      title: 'Weather MCP',
      source_ref: { repository: 'acme/weather-mcp', path: 'README.md', ref: 'main' },
      tool_ids: [toolId],
    });
    expect(await k.documents.ingestGithub({ ...event, content: `${event.content}\n\nNow with tide tables.` })).toBe('updated');
    expect((await k.documents.list({ page: 1, page_size: 10, source: 'github' }, bob)).total).toBe(1);
    expect((await search(k, bob, 'tide tables')).items[0]?.document_id).toBe(doc.id);
    await expect(k.documents.update(doc.id, { body: 'local edit' }, alice)).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await k.documents.unlinkTool(toolId)).toBe(1);
    expect(await k.documents.unlinkTool(toolId)).toBe(0);
    expect((await k.documents.get(doc.id, bob)).tool_ids).toEqual([]);
  });

  it('never loses an update: of two concurrent edits from the same revision, one wins and one gets a conflict', async () => {
    const doc = await create(k, alice, 'Concurrent', 'First version.');
    const results = await Promise.allSettled([
      k.documents.update(doc.id, { body: 'Edit A.' }, alice),
      k.documents.update(doc.id, { body: 'Edit B.' }, alice),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const rejected = results.find((r) => r.status === 'rejected');
    expect(rejected?.reason).toMatchObject({ code: 'CONFLICT' });
    const winner = results.find((r) => r.status === 'fulfilled')!.value;
    expect((await k.documents.get(doc.id, alice)).body).toBe(winner.body);
    await k.documents.remove(doc.id, alice);
  });

  it('counts documents for Prometheus from the database', async () => {
    const text = await metricsRegistry.getSingleMetricAsString('knowledge_documents_total');
    expect(text).toMatch(/knowledge_documents_total\{source="api",visibility="public",embedding="disabled"\} \d+/);
  });

  it('deletes a document: it is gone from get, list and search', async () => {
    const id = ids.get('server-everart')!;
    expect((await search(k, bob, 'EverArt image generation')).items[0]?.document_id).toBe(id);
    await expect(k.documents.remove(id, bob)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(await k.documents.remove(id, alice)).toEqual({ id, deleted: true });
    await expect(k.documents.get(id, alice)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await search(k, bob, 'EverArt image generation')).items.map((i) => i.document_id)).not.toContain(id);
  });

  describe('with an embedding provider (hybrid search)', () => {
    let hybrid: Knowledge;

    beforeAll(async () => {
      hybrid = await knowledge(iso, mongoUrl, { EMBEDDINGS_PROVIDER: 'hashing', EMBEDDINGS_DIMENSIONS: '512' });
    });
    afterAll(() => hybrid.close());

    it('embeds chunks in a job, reuses unchanged chunks after an edit, and fuses text and vector ranks', async () => {
      const doc = await create(hybrid, alice, 'Tide tables', readme('server-google-maps'));
      expect(doc.embedding_status).toBe('pending');
      const first = await hybrid.embeddings.embedDocument(doc.id, doc.content_hash);
      expect(first).toEqual({ embedded: doc.chunks.length, reused: 0 });
      expect((await hybrid.documents.get(doc.id, alice)).embedding_status).toBe('ready');
      expect(await hybrid.store.embeddings.countDocuments({ documentId: doc.id })).toBe(doc.chunks.length);
      const edited = await hybrid.documents.update(doc.id, { body: `${doc.body}\n\n## Extra\n\nElevation data for hiking trails.` }, alice);
      // The job of the old version is a no-op; the new version embeds only the new chunk.
      expect((await hybrid.embeddings.embedDocument(doc.id, doc.content_hash)).skipped).toBeDefined();
      expect(await hybrid.embeddings.embedDocument(doc.id, edited.content_hash)).toEqual({ embedded: 1, reused: doc.chunks.length });
      for (const name of ['server-postgres', 'server-redis']) {
        const d = await hybrid.documents.get(ids.get(name)!, alice);
        await hybrid.embeddings.embedDocument(d.id, d.content_hash);
      }
      const result = await search(hybrid, bob, 'elevation for hiking trails');
      expect(result.mode).toBe('hybrid');
      expect(result.items[0]?.document_id).toBe(doc.id);
      expect(result.items[0]?.chunk.text).toContain('Elevation data');
      // Plain-text mode on the same data says so.
      expect((await search(k, bob, 'elevation for hiking trails')).mode).toBe('text');
    });

    it('talks to an Ollama server through LangChain (a local HTTP peer speaking /api/embed)', async () => {
      const requests: { model: string; input: string[] }[] = [];
      const hashing = new HashingEmbeddings(16);
      const ollama = await jsonPeer('/api/embed', async (body: { model: string; input: string[] }) => {
        requests.push(body);
        return { model: body.model, embeddings: await hashing.embedDocuments(body.input) };
      });
      const viaOllama = await knowledge(iso, mongoUrl, {
        EMBEDDINGS_PROVIDER: 'ollama',
        OLLAMA_BASE_URL: ollama.url,
        EMBEDDINGS_MODEL: 'nomic-embed-text',
      });
      try {
        const doc = await create(viaOllama, alice, 'Via Ollama', readme('server-brave-search'));
        expect(await viaOllama.embeddings.embedDocument(doc.id, doc.content_hash)).toEqual({ embedded: doc.chunks.length, reused: 0 });
        expect(requests[0]).toMatchObject({ model: 'nomic-embed-text' });
        expect(requests.flatMap((r) => r.input)).toHaveLength(doc.chunks.length);
        const stored = await viaOllama.store.embeddings.findOne({ documentId: doc.id }).lean();
        expect(stored).toMatchObject({ model: 'ollama:nomic-embed-text' });
        expect(stored?.vector).toHaveLength(16);
        expect((await search(viaOllama, bob, 'local search businesses')).mode).toBe('hybrid');
      } finally {
        await viaOllama.close();
        await ollama.close();
      }
    });

    it('talks to an OpenAI-compatible API through LangChain (a local HTTP peer speaking /v1/embeddings)', async () => {
      const requests: { model: string; input: string[]; encoding_format?: string; auth?: string }[] = [];
      const hashing = new HashingEmbeddings(16);
      const openai = await jsonPeer(
        '/v1/embeddings',
        async (body: { model: string; input: string | string[]; encoding_format?: string }, headers) => {
          const input = Array.isArray(body.input) ? body.input : [body.input];
          requests.push({ ...body, input, auth: headers.authorization });
          const vectors = await hashing.embedDocuments(input);
          const data = vectors.map((v, index) => ({
            object: 'embedding',
            index,
            embedding: body.encoding_format === 'base64' ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v,
          }));
          return { object: 'list', data, model: body.model, usage: { prompt_tokens: 1, total_tokens: 1 } };
        },
      );
      const viaOpenAi = await knowledge(iso, mongoUrl, {
        EMBEDDINGS_PROVIDER: 'openai',
        OPENAI_API_KEY: 'sk-test-not-a-real-key',
        OPENAI_BASE_URL: `${openai.url}/v1`,
        EMBEDDINGS_DIMENSIONS: '16',
      });
      try {
        const doc = await create(viaOpenAi, alice, 'Via OpenAI', readme('server-aws-kb-retrieval'));
        expect(await viaOpenAi.embeddings.embedDocument(doc.id, doc.content_hash)).toEqual({ embedded: doc.chunks.length, reused: 0 });
        expect(requests[0]).toMatchObject({ model: 'text-embedding-3-small', auth: 'Bearer sk-test-not-a-real-key' });
        const stored = await viaOpenAi.store.embeddings.findOne({ documentId: doc.id }).lean();
        expect(stored?.vector).toHaveLength(16);
        expect(stored?.vector.every((x) => Number.isFinite(x))).toBe(true);
        expect((await search(viaOpenAi, bob, 'retrieve context from the knowledge base')).mode).toBe('hybrid');
      } finally {
        await viaOpenAi.close();
        await openai.close();
      }
    });

    it('sees vectors another instance wrote (its vector cache follows the shared generation)', async () => {
      const other = await knowledge(iso, mongoUrl, { EMBEDDINGS_PROVIDER: 'hashing', EMBEDDINGS_DIMENSIONS: '512' });
      try {
        // Loads this instance's vector cache (the document does not exist yet).
        expect((await search(hybrid, bob, 'narwhal migration')).items.map((i) => i.title)).not.toContain('Arctic');
        const doc = await create(other, alice, 'Arctic', 'Narwhal migration routes along the fjords.');
        await other.embeddings.embedDocument(doc.id, doc.content_hash);
        const found = await search(hybrid, bob, 'narwhal migration');
        expect(found.items[0]?.document_id).toBe(doc.id);
        expect(await hybrid.embeddings.vectorSearch('narwhal migration routes', new Set([doc.id]), 5)).toEqual([
          expect.objectContaining({ documentId: doc.id, similarity: expect.any(Number) }),
        ]);
        await other.documents.remove(doc.id, alice);
      } finally {
        await other.close();
      }
    });

    it('deletes the vectors of a deleted document', async () => {
      const doc = await create(hybrid, alice, 'Short lived', 'A document about ephemeral vectors.');
      await hybrid.embeddings.embedDocument(doc.id, doc.content_hash);
      expect(await hybrid.store.embeddings.countDocuments({ documentId: doc.id })).toBe(1);
      await hybrid.documents.remove(doc.id, alice);
      expect(await hybrid.store.embeddings.countDocuments({ documentId: doc.id })).toBe(0);
    });
  });
});
