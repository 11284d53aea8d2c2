import amqplib from 'amqplib';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import {
  ApiClient,
  SseClient,
  isolate,
  listenToEvents,
  serviceNodeFlags,
  startPlatform,
  until,
  type ApiResponse,
  type RunningPlatform,
  type TestIsolation,
} from '#testing';

/** The registry as its own process (not under the platform runner), so that it can be killed like a crash would. */
async function startRegistry(env: Record<string, string>, logs: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...serviceNodeFlags(), 'dist/apps/registry/src/main.js'], {
    env: { ...process.env, ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  createInterface({ input: child.stderr }).on('line', (l) => logs.push(l));
  await new Promise<void>((ok, fail) => {
    createInterface({ input: child.stdout }).on('line', (l) => {
      logs.push(l);
      if (l.includes('registry is listening')) ok();
    });
    child.once('exit', (code, signal) =>
      fail(new Error(`the registry exited during start-up (${signal ?? code}):\n${logs.slice(-20).join('\n')}`)),
    );
  });
  return child;
}

/** Sends the signal and waits for the exit; after SIGINT, a process still there 10 s later is killed (a stray one would keep Jest from ending). */
function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((ok) => {
    const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      ok();
    });
    child.kill(signal);
  });
}

/**
 * The registry killed (SIGKILL, as a crash or the OOM killer would) while versions are being
 * published, then started again. Clients do what a careful client does with a 5xx or a lost
 * answer: send the same publish again (half of them with an Idempotency-Key). Afterwards every version exists exactly once, with its
 * history entry and its event, nothing is half-written, and every publish the gateway answered 201
 * is there: no accepted work is lost, none is done twice.
 */
describe('registry crash during writes (e2e)', () => {
  let iso: TestIsolation;
  let gateway: RunningPlatform;
  let registry: ChildProcess | undefined;
  const registryLogs: string[] = [];
  let amqp: amqplib.ChannelModel;
  const events: { id: string; key: string; payload: { tool_id: string; version?: string; sha256?: string } }[] = [];
  let admin: ApiClient;
  let adminToken: string;

  const TOOLS = 6;
  const VERSIONS = 30;

  beforeAll(async () => {
    iso = isolate({
      BOOTSTRAP_ADMIN_USERNAME: 'crash-admin',
      BOOTSTRAP_ADMIN_EMAIL: 'crash-admin@example.com',
      BOOTSTRAP_ADMIN_PASSWORD: 'kill-nine-secret-1',
      // Requests queued while the registry is down expire (and are answered 504) after this.
      RPC_TIMEOUT_MS: '10000',
      RATE_LIMIT_PER_PRINCIPAL: '1000000',
      RATE_LIMIT_PER_IP: '1000000',
    });
    gateway = await startPlatform(iso.env, { only: ['gateway'] });
    registry = await startRegistry(iso.env, registryLogs);
    const api = new ApiClient(gateway.baseUrl);
    const login = await api.post('/api/v1/auth/login', { username: 'crash-admin', password: 'kill-nine-secret-1' });
    expect(login.status).toBe(200);
    adminToken = login.body.access_token;
    admin = api.withToken(adminToken);

    await listen();
  }, 120_000);

  /** The test's own consumer, on a durable queue: it listens again after the broker dropped its connection, missing nothing. */
  const listenQueue = () => `${iso.config.namespace}.crash-recovery-test.events`;
  async function listen() {
    amqp = await amqplib.connect(iso.config.amqp.url);
    amqp.on('error', () => undefined); // a dropped connection is expected here
    await listenToEvents(amqp, iso.config.namespace, 'tool.#', events, { queue: listenQueue() });
  }

  afterAll(async () => {
    // Each step whatever the others did: a process left running would keep Jest from ending.
    await Promise.allSettled([amqp?.close(), registry && kill(registry, 'SIGINT'), gateway?.stop()]);
    await iso?.cleanup([listenQueue()]);
  }, 60_000);

  const body = (tool: number, v: number) => ({
    version: `1.0.${v}`,
    changelog: `release ${v}`,
    config: { type: 'stdio', command: 'node', args: [`server-${tool}.js`, `--release=${v}`] },
    manifest: { tools: [{ name: `op_${v}`, description: `operation ${v}`, input_schema: { type: 'object' } }] },
  });

  /**
   * Publishes VERSIONS versions to each of TOOLS new tools (`prefix-0`…) from one client per tool,
   * each retrying a publish until it is answered 201 or "already published with this same
   * content", runs `disrupt` once a third of them are in, and checks that every version is there
   * exactly once with its history entry and its event, whatever was answered meanwhile.
   */
  async function publishThrough(prefix: string, disrupt: () => Promise<void>) {
    const ids: string[] = [];
    for (let t = 0; t < TOOLS; t++) {
      const r = await admin.post('/api/v1/mcps', { name: `${prefix}-${t}`, visibility: 'public' });
      expect(r.status).toBe(201);
      ids.push(r.body.id);
    }

    /** What each publish was answered, in order, per tool: 201, 'landed' (409 same content), or a 5xx / network error before a retry. */
    const answers: string[][] = ids.map(() => []);
    const sha: Record<string, string> = {};
    /** The version ids a keyed publish was answered with (every answer to one key must be the same). */
    const answeredIds: Record<string, Set<string>> = {};
    let accepted = 0;
    let slowest = 0;
    const unexpected: string[] = [];
    /** Tools with an even index are published with an Idempotency-Key per version, the others without. */
    const keyed = (t: number) => t % 2 === 0;
    const publisher = async (t: number) => {
      for (let v = 0; v < VERSIONS; v++) {
        for (let attempt = 0; ; attempt++) {
          if (attempt > 200) throw new Error(`tool ${t} version ${v}: no answer after 200 attempts`);
          let status: number;
          let res;
          const started = performance.now();
          try {
            res = await admin.post(
              `/api/v1/mcps/${ids[t]}/versions`,
              body(t, v),
              keyed(t) ? { 'idempotency-key': `${prefix}-${t}-${v}` } : {},
            );
            status = res.status;
            slowest = Math.max(slowest, performance.now() - started);
          } catch (err) {
            answers[t].push(`network ${String(err)}`);
            await new Promise((r) => setTimeout(r, 100));
            continue;
          }
          if (status === 201) {
            answers[t].push('201');
            sha[`${ids[t]} 1.0.${v}`] = res.body.sha256;
            (answeredIds[`${ids[t]} 1.0.${v}`] ??= new Set()).add(res.body.id);
            accepted++;
            break;
          }
          if (status === 409 && res.body.error?.details?.same_content === true) {
            // The earlier attempt landed although its answer was lost: the retry says so.
            answers[t].push('landed');
            sha[`${ids[t]} 1.0.${v}`] = res.body.error.details.published_sha256;
            break;
          }
          if (status >= 500) {
            answers[t].push(String(status));
            await new Promise((r) => setTimeout(r, 100));
            continue;
          }
          unexpected.push(`tool ${t} version 1.0.${v}: ${status} ${res.text}`);
          break;
        }
      }
    };

    const load = Promise.all(ids.map((_, t) => publisher(t)));
    load.catch(() => undefined); // awaited below; this keeps an early failure from being unhandled
    // Once a third of the versions are in, while every publisher is busy.
    await until(async () => accepted >= (TOOLS * VERSIONS) / 3 || unexpected.length > 0, 'a third of the publishes accepted', 60_000, 10);
    expect(unexpected).toEqual([]);
    await disrupt();
    await load;

    expect(unexpected).toEqual([]);
    // The disruption hit work in flight: a publisher waited for an answer across it (RabbitMQ kept
    // its request, or redelivered it unacknowledged, for the new registry), or was answered a 5xx.
    expect(slowest > 1000 || answers.flat().some((a) => a !== '201')).toBe(true);
    // With a key, a publish interrupted after its COMMIT is answered as it was done (201 with the
    // same version), never as a conflict with itself.
    for (const t of ids.keys()) if (keyed(t)) expect(answers[t].filter((a) => a === 'landed')).toEqual([]);
    expect(Object.values(answeredIds).filter((s) => s.size !== 1)).toEqual([]);

    for (const [t, id] of ids.entries()) {
      const versions = await admin.get(`/api/v1/mcps/${id}/versions?page_size=100`);
      expect(versions.status).toBe(200);
      const listed = (versions.body.items as { version: string; sha256: string }[]).map((v) => `${v.version} ${v.sha256}`).sort();
      const expected = Array.from({ length: VERSIONS }, (_, v) => `1.0.${v} ${sha[`${id} 1.0.${v}`]}`).sort();
      expect(listed).toEqual(expected);
      expect(versions.body.total).toBe(VERSIONS);

      const tool = await admin.get(`/api/v1/mcps/${id}`);
      expect(tool.body).toMatchObject({ latest_version: `1.0.${VERSIONS - 1}` });

      // One history entry per version: none lost, none written twice.
      const history = await admin.get(`/api/v1/mcps/${id}/history?page_size=100`);
      const published = (history.body.items as { action: string; diff: { version: string } }[])
        .filter((h) => h.action === 'version.published')
        .map((h) => h.diff.version)
        .sort();
      expect(published).toEqual(Array.from({ length: VERSIONS }, (_, v) => `1.0.${v}`).sort());
      expect(answers[t].filter((a) => a === '201' || a === 'landed')).toHaveLength(VERSIONS);
    }

    // Every version's event arrives (the outbox relay picks up after the restart); a redelivery
    // after the crash may repeat one, always under the same event id, so consumers can drop it.
    const key = (e: (typeof events)[number]) => `${e.payload.tool_id} ${e.payload.version}`;
    const ours = () => events.filter((e) => e.key === 'tool.version.published' && ids.includes(e.payload.tool_id));
    await until(async () => new Set(ours().map(key)).size === TOOLS * VERSIONS, 'every tool.version.published event', 30_000, 100);
    const idsByVersion = new Map<string, Set<string>>();
    for (const e of ours()) {
      idsByVersion.set(key(e), (idsByVersion.get(key(e)) ?? new Set()).add(e.id));
      expect(e.payload.sha256).toBe(sha[key(e)]);
    }
    expect([...idsByVersion.values()].filter((s) => s.size !== 1)).toEqual([]);
  }

  it('loses no accepted publish and does none twice when the registry is killed mid-load', async () => {
    await publishThrough('crash-tool', async () => {
      await kill(registry!, 'SIGKILL');
      registry = undefined;
      await new Promise((r) => setTimeout(r, 1500));
      registry = await startRegistry(iso.env, registryLogs);
    });
  }, 180_000);

  /**
   * The instant a kill from outside can only hit by chance: the registry dies right after a
   * change's COMMIT, before its cache bump and its answer (crash points `registry.change.committed`
   * and `registry.version.committed`). RabbitMQ gives the unacknowledged request to the restarted
   * registry, and the gateway, still waiting, passes on what it answers: the change as done, as the
   * first delivery would have answered (no `Idempotent-Replayed`: this request made it). It is found
   * by the request id, in the Idempotency-Key's record or, without a key, in the change's history.
   */
  it('answers a change committed just before a crash once restarted, as done, and makes it once', async () => {
    // The registry's log lines of this test (the earlier tests' kills may redeliver requests too).
    const logsFrom = registryLogs.length;
    /** Restarts the registry with the crash point armed, sends the request, and restarts it unarmed once it died there. */
    const acrossCrash = async (point: string, send: () => Promise<ApiResponse>) => {
      await kill(registry!, 'SIGINT');
      registry = await startRegistry({ ...iso.env, FAULT_CRASH_AT: point }, registryLogs);
      const died = new Promise<string | null>((ok) => registry!.once('exit', (_code, signal) => ok(signal)));
      const answer = send();
      expect(await died).toBe('SIGKILL');
      registry = await startRegistry(iso.env, registryLogs);
      return answer;
    };

    // A create without a key: 201 with the tool it created, not a 409 for its own name.
    const created = await acrossCrash('registry.change.committed', () =>
      admin.post('/api/v1/mcps', { name: 'commit-crash-tool', visibility: 'public' }),
    );
    expect(created.status).toBe(201);
    expect(created.headers.get('idempotent-replayed')).toBeNull();
    expect(created.body).toMatchObject({ name: 'commit-crash-tool', latest_version: null });
    const id: string = created.body.id;
    // Read once, so the gateway holds the tool without a version in its cache.
    expect((await admin.get(`/api/v1/mcps/${id}`)).body.latest_version).toBeNull();
    // A client's own repeat is still a 409: only a redelivery of the same request is answered as done.
    expect((await admin.post('/api/v1/mcps', { name: 'commit-crash-tool', visibility: 'public' })).status).toBe(409);

    // A publish with an Idempotency-Key: the 201 from the record committed with the version; the
    // client's own retry with the key is a replay.
    const keyed = await acrossCrash('registry.version.committed', () =>
      admin.post(`/api/v1/mcps/${id}/versions`, body(0, 0), { 'idempotency-key': 'commit-crash-0' }),
    );
    expect(keyed.status).toBe(201);
    expect(keyed.headers.get('idempotent-replayed')).toBeNull();
    expect(keyed.body).toMatchObject({ version: '1.0.0' });
    const retried = await admin.post(`/api/v1/mcps/${id}/versions`, body(0, 0), { 'idempotency-key': 'commit-crash-0' });
    expect([retried.status, retried.body.id, retried.headers.get('idempotent-replayed')]).toEqual([201, keyed.body.id, 'true']);

    // A publish without a key: 201 as well, found by its request id in the history.
    const unkeyed = await acrossCrash('registry.version.committed', () => admin.post(`/api/v1/mcps/${id}/versions`, body(0, 1)));
    expect(unkeyed.status).toBe(201);
    expect(unkeyed.headers.get('idempotent-replayed')).toBeNull();
    expect(unkeyed.body).toMatchObject({ version: '1.0.1', is_latest: true });
    // The same publish sent again by the client is a repeat: the 409 that says it holds this content.
    const again = await admin.post(`/api/v1/mcps/${id}/versions`, body(0, 1));
    expect(again.status).toBe(409);
    expect(again.body.error.details).toMatchObject({ same_content: true, published_sha256: unkeyed.body.sha256 });

    const versions = await admin.get(`/api/v1/mcps/${id}/versions`);
    expect((versions.body.items as { id: string; version: string }[]).map((v) => [v.version, v.id])).toEqual([
      ['1.0.1', unkeyed.body.id],
      ['1.0.0', keyed.body.id],
    ]);
    // The crash skipped the publish's own cache bump; the outbox relay's bump, before it sends the
    // event, still invalidated the cached tool.
    const read = await admin.get(`/api/v1/mcps/${id}`);
    expect(read.body.latest_version).toBe('1.0.1');

    // Changes that made again would be refused: a conditional update (its If-Match no longer
    // holds once it is made), a yank (already yanked), a delete (already deleted). Each is answered
    // as made, from the tool as it is.
    const updated = await acrossCrash('registry.change.committed', () =>
      admin.put(`/api/v1/mcps/${id}`, { description: 'after the crash' }, { 'if-match': read.headers.get('etag')! }),
    );
    expect([updated.status, updated.body.description]).toEqual([200, 'after the crash']);
    expect(updated.headers.get('etag')).not.toBe(read.headers.get('etag'));
    const yanked = await acrossCrash('registry.change.committed', () =>
      admin.post(`/api/v1/mcps/${id}/versions/1.0.0/yank`, { reason: 'broken' }),
    );
    expect(yanked.status).toBe(200);
    expect(yanked.body).toMatchObject({ version: '1.0.0', yanked: true, yank_reason: 'broken' });
    // An import (no key): the report of what it did, not one that finds its tool unchanged.
    const document = { mcpServers: { 'commit-crash-import': { command: 'node', args: ['server.js'] } } };
    const imported = await acrossCrash('registry.change.committed', () => admin.post('/api/v1/mcps/import', { document }));
    expect(imported.status).toBe(200);
    expect(imported.body.created.map((c: { name: string }) => c.name)).toEqual(['commit-crash-import']);
    const importedId: string = imported.body.created[0].tool_id;
    const importHistory = await admin.get(`/api/v1/mcps/${importedId}/history`);
    expect((importHistory.body.items as { action: string; request_id: string }[]).map((h) => [h.action, h.request_id])).toEqual([
      ['tool.created', imported.headers.get('x-request-id')],
      ['version.published', imported.headers.get('x-request-id')],
    ]);
    // The client's own repeat finds nothing to do.
    const reimported = await admin.post('/api/v1/mcps/import', { document });
    expect([reimported.body.created, reimported.body.skipped.map((s: { name: string }) => s.name)]).toEqual([[], ['commit-crash-import']]);

    const deleted = await acrossCrash('registry.change.committed', () => admin.delete(`/api/v1/mcps/${id}`));
    expect(deleted.status).toBe(200);
    expect(deleted.body.deleted_at).not.toBeNull();
    // A client's own repeat of them is refused as before.
    expect((await admin.delete(`/api/v1/mcps/${id}`)).status).toBe(409);

    // One entry per change, each naming the request that made it (the X-Request-Id of its answer).
    const history = await admin.get(`/api/v1/mcps/${id}/history?page_size=100`);
    expect((history.body.items as { action: string; request_id: string }[]).map((h) => [h.action, h.request_id])).toEqual(
      [
        ['tool.created', created],
        ['version.published', keyed],
        ['version.published', unkeyed],
        ['tool.updated', updated],
        ['version.yanked', yanked],
        ['tool.deleted', deleted],
      ].map(([action, answer]) => [action, (answer as ApiResponse).headers.get('x-request-id')]),
    );
    for (const answer of [created, keyed, unkeyed, updated, yanked, imported, deleted]) {
      expect(answer.headers.get('idempotent-replayed')).toBeNull();
    }

    // Each change's event went out (from the outbox, after the restart), under one event id.
    const ours = (key: string, version?: string) =>
      new Set(events.filter((e) => e.key === key && e.payload.tool_id === id && e.payload.version === version).map((e) => e.id));
    const expected: [string, string?][] = [
      ['tool.created'],
      ['tool.version.published', '1.0.0'],
      ['tool.version.published', '1.0.1'],
      ['tool.updated'],
      ['tool.version.yanked', '1.0.0'],
      ['tool.deleted'],
    ];
    await until(async () => expected.every(([key, version]) => ours(key, version).size > 0), "every change's event", 30_000, 100);
    expect(expected.map(([key, version]) => [key, version, ours(key, version).size])).toEqual(
      expected.map(([key, version]) => [key, version, 1]),
    );
    const logged = registryLogs.slice(logsFrom);
    expect(logged.filter((l) => l.includes('crash point armed'))).toHaveLength(7);
    expect(logged.filter((l) => l.includes('redelivered request: its change had committed'))).toHaveLength(7);
  }, 120_000);

  /**
   * The outbox relay's at-least-once: the registry dies after a relay pass published its events
   * and before it marked them (crash point `outbox.published`). Restarted, it publishes them
   * again under the same ids; a live stream (GET /events) shows each once.
   */
  it('republishes events after a crash between publishing and marking them, under their ids, and a live stream shows each once', async () => {
    const created = await admin.post('/api/v1/mcps', { name: 'relay-crash-tool', visibility: 'public' });
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    const copies = (key: string) => events.filter((e) => e.key === key && e.payload.tool_id === id);
    // Its tool.created is out before the armed registry starts, so that the crash comes with the publish's event.
    await until(async () => copies('tool.created').length > 0, 'the tool.created event', 10_000, 50);
    const live = await SseClient.open(`${gateway.baseUrl}/events`, { authorization: `Bearer ${adminToken}` });
    try {
      await live.waitFor((e) => e.event === 'ready', 'the live stream to open');
      await kill(registry!, 'SIGINT');
      registry = await startRegistry({ ...iso.env, FAULT_CRASH_AT: 'outbox.published' }, registryLogs);
      const died = new Promise<string | null>((ok) => registry!.once('exit', (_code, signal) => ok(signal)));
      const published = admin.post(`/api/v1/mcps/${id}/versions`, body(1, 0));
      expect(await died).toBe('SIGKILL');
      registry = await startRegistry(iso.env, registryLogs);
      // Answered 201 whether the answer went out before the relay's crash or came from the redelivery.
      expect((await published).status).toBe(201);

      // Sent twice (before the crash, and by the restarted registry's relay), under one id.
      await until(async () => copies('tool.version.published').length >= 2, 'the event published again', 30_000, 50);
      expect(new Set(copies('tool.version.published').map((e) => e.id)).size).toBe(1);
      // The stream got both copies from the broker as well (the test's listener did) and showed one.
      const isOurs = (e: { event: string; data?: { payload?: { tool_id?: string } } }) =>
        e.event === 'tool.version.published' && e.data?.payload?.tool_id === id;
      await live.waitFor(isOurs, 'the event on the live stream');
      await new Promise((r) => setTimeout(r, 1000));
      expect(live.events.filter(isOurs)).toHaveLength(1);
    } finally {
      live.close();
    }
  }, 120_000);

  it('loses no accepted publish and does none twice when the broker drops every connection mid-load', async () => {
    // Gateway, registry and the outbox relay all lose their channels at once, with requests,
    // answers and events on the way; each reconnects on its own.
    await publishThrough('broker-drop-tool', async () => {
      execFileSync('rabbitmqctl', ['close_all_connections', 'crash-recovery test'], { stdio: 'ignore' });
      await listen();
    });
    expect(registry?.exitCode).toBeNull();
  }, 180_000);
});
