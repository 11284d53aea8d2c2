import { connect, type Socket } from 'node:net';
import { ApiClient, isolate, startPlatform, until, type RunningPlatform, type TestIsolation } from '#testing';

/**
 * The registry cache's promise under concurrent load: a read sent after a write returned never
 * sees the tool as it was before that write, also when the gateway shares one generation read
 * among the requests that arrived together.
 */
describe('cached reads under concurrent writes (e2e)', () => {
  let iso: TestIsolation;
  let platform: RunningPlatform;
  let owner: ApiClient;
  let admin: ApiClient;
  let ownerToken: string;

  beforeAll(async () => {
    iso = isolate({
      BOOTSTRAP_ADMIN_USERNAME: 'boss',
      BOOTSTRAP_ADMIN_EMAIL: 'boss@example.com',
      BOOTSTRAP_ADMIN_PASSWORD: 'registry-admin-pass-1',
      RATE_LIMIT_PER_IP: '100000',
      RATE_LIMIT_PER_PRINCIPAL: '100000',
    });
    platform = await startPlatform(iso.env, { only: ['gateway', 'registry'] });
    const api = new ApiClient(platform.baseUrl);
    const login = async (username: string, password: string) => {
      const r = await api.post('/api/v1/auth/login', { username, password });
      expect(r.status).toBe(200);
      const token = r.body.access_token as string;
      if (username === 'olivia') ownerToken = token;
      return api.withToken(token);
    };
    admin = await login('boss', 'registry-admin-pass-1');
    expect(
      (
        await admin.post('/api/v1/users', {
          username: 'olivia',
          email: 'o@example.com',
          password: 'long-enough-secret-1',
          role: 'maintainer',
        })
      ).status,
    ).toBe(201);
    owner = await login('olivia', 'long-enough-secret-1');
  }, 120_000);

  afterAll(async () => {
    await platform?.stop();
    await iso?.cleanup();
  }, 60_000);

  const metric = async (name: string, labels = '') => {
    const text = (await admin.get('/metrics')).text;
    const m = new RegExp(`^${name}(?:\\{[^}]*${labels}[^}]*\\})? (\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };

  const detailHits = () => metric('registry_cache_requests_total', 'kind="detail",result="hit"');

  /** Reads until one read is a cache hit: from then on the gateway holds the parsed entry, and a hit reads only the generation. */
  const readUntilHit = async (toolId: string) => {
    for (let i = 0; i < 40; i++) {
      const before = await detailHits();
      await owner.get(`/api/v1/mcps/${toolId}`);
      if ((await detailHits()) > before) return;
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  it('never answers a read sent after a write returned with the tool as it was before that write', async () => {
    const tool = (await owner.post('/api/v1/mcps', { name: 'raced', description: 'v0', visibility: 'private' })).body as { id: string };
    // Warm the cache (the outbox relay bumps the generation once more before tool.created goes out).
    await readUntilHit(tool.id);
    // The gateway answers from its coherence lease (JOIN_WAIT_MS after it registered it): that is
    // the path whose promise is checked here.
    await until(async () => (await metric('gateway_coherence_leases')) === 1, 'the gateway answers from its lease', 5000, 50);
    const hitsBefore = await detailHits();
    const genReadsBefore = await metric('registry_cache_generation_reads_total');

    // writesReturned[k]: when write k (description `v${k}`) had returned to its caller.
    const writesReturned: number[] = [0];
    const reads: { sentAt: number; seen: number }[] = [];
    let writing = true;
    const reader = async () => {
      while (writing) {
        const sentAt = performance.now();
        const r = await owner.get(`/api/v1/mcps/${tool.id}`);
        expect(r.status).toBe(200);
        reads.push({ sentAt, seen: Number(/^v(\d+)$/.exec(r.body.description)![1]) });
      }
    };
    const readers = Array.from({ length: 16 }, reader);
    for (let k = 1; k <= 25; k++) {
      expect((await owner.put(`/api/v1/mcps/${tool.id}`, { description: `v${k}` })).status).toBe(200);
      writesReturned[k] = performance.now();
      await new Promise((r) => setTimeout(r, 10));
    }
    writing = false;
    await Promise.all(readers);

    const stale = reads.filter(({ sentAt, seen }) => writesReturned.some((returned, k) => k > seen && returned <= sentAt));
    expect(stale).toEqual([]);
    expect(reads.length).toBeGreaterThan(200);
    // Reads were served from the cache between writes, without a generation read each (the
    // gateway's coherence lease, or one shared read per event-loop turn without it).
    const hits = (await detailHits()) - hitsBefore;
    expect(hits).toBeGreaterThan(50);
    expect((await metric('registry_cache_generation_reads_total')) - genReadsBefore).toBeLessThan(hits);
  });

  it('answers requests that arrive together from the cache with fewer generation reads than requests', async () => {
    const tool = (await owner.post('/api/v1/mcps', { name: 'burst', visibility: 'private' })).body as { id: string };
    const { port } = new URL(platform.baseUrl);
    const request = Buffer.from(`GET /api/v1/mcps/${tool.id} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${ownerToken}\r\n\r\n`);
    const sockets = await Promise.all(
      Array.from(
        { length: 16 },
        () =>
          new Promise<Socket>((ok, fail) => {
            const s = connect({ host: '127.0.0.1', port: Number(port), noDelay: true }, () => ok(s));
            s.once('error', fail);
          }),
      ),
    );
    const answered = (s: Socket) =>
      new Promise<string>((ok) => {
        let text = '';
        const onData = (b: Buffer) => {
          text += b.toString('latin1');
          const end = text.indexOf('\r\n\r\n');
          const length = /content-length: (\d+)/i.exec(text);
          if (end >= 0 && length && text.length >= end + 4 + Number(length[1])) {
            s.off('data', onData);
            ok(text.slice(9, 12));
          }
        };
        s.on('data', onData);
      });
    try {
      await readUntilHit(tool.id);
      // Bursts written to all sockets in one go usually reach the gateway in the same event-loop
      // turn; whether one does is up to the scheduler, so up to 20 bursts are tried.
      let shared = false;
      for (let burst = 0; burst < 20 && !shared; burst++) {
        const [readsBefore, hitsBefore] = [await metric('registry_cache_generation_reads_total'), await detailHits()];
        const statuses = sockets.map(answered);
        for (const s of sockets) s.write(request);
        expect(await Promise.all(statuses)).toEqual(sockets.map(() => '200'));
        const hits = (await detailHits()) - hitsBefore;
        const reads = (await metric('registry_cache_generation_reads_total')) - readsBefore;
        // Every request of the burst was a hit, with fewer generation reads than requests: none
        // under the coherence lease, else one shared by the requests of a turn.
        shared = hits === sockets.length && reads < sockets.length;
      }
      expect(shared).toBe(true);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });
});
