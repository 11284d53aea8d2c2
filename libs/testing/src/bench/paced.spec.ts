import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { GENERATOR_NODE_FLAGS, missingGeneratorFlags, paced } from './paced';

describe('paced', () => {
  let server: Server;
  let url: string;
  /** Per request: how many connections the server had accepted when it arrived. */
  let connectionsAtRequest: number[];
  let accepted: number;

  beforeEach(async () => {
    connectionsAtRequest = [];
    accepted = 0;
    server = createServer((req, res) => {
      connectionsAtRequest.push(accepted);
      // The first request on a connection is slow (as a cold connection's is), later ones immediate.
      const first = !(req.socket as { served?: boolean }).served;
      (req.socket as { served?: boolean }).served = true;
      setTimeout(() => res.writeHead(200, { 'content-length': '2' }).end('ok'), first ? 200 : 0);
    });
    server.on('connection', () => accepted++);
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  });

  it('opens and warms every connection, ramps up at the rate, then counts only the paced requests', async () => {
    const began = performance.now();
    const r = await paced({ url, rate: 200, durationS: 1, connections: 8, rampS: 0.5 });

    expect(r.samples.length).toBe(200);
    expect(r.errors + r.non2xx).toBe(0);
    // One warm-up request per connection, 100 of ramp, 200 counted, all after the last connection opened.
    expect(connectionsAtRequest).toHaveLength(308);
    expect(connectionsAtRequest.slice(8).every((n) => n === 8)).toBe(true);
    expect(performance.now() - began).toBeGreaterThanOrEqual(1500);
    expect(r.rps).toBeGreaterThan(150);
    expect(r.rps).toBeLessThan(250);
    // The 200 ms first requests were the warm-up: none of the measured ones waited for them.
    expect(r.max).toBeLessThan(150);
  });

  it('reports failed warm-up and ramp requests by reason, apart from the counted ones', async () => {
    server.removeAllListeners('request');
    server.on('request', (_req, res) => res.writeHead(503, { 'content-length': '0' }).end());

    const r = await paced({ url, rate: 50, durationS: 0.2, connections: 2, rampS: 0.1 });

    // Two connection warm-ups and five ramp requests, reported apart from the ten counted ones.
    expect(r.failures['warm-up status 503']).toBe(7);
    expect(r.non2xx).toBe(10);
  });
});

describe('the load generator', () => {
  it("runs with its V8 flags from package.json's bench scripts, and names any it lacks", () => {
    const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const name of ['bench', 'bench:ab']) {
      expect({ name, script: scripts[name] }).toEqual({
        name,
        script: expect.stringContaining(`node ${GENERATOR_NODE_FLAGS.join(' ')} dist/`),
      });
    }
    expect(missingGeneratorFlags(['--no-memory-reducer', '--enable-source-maps'])).toEqual([]);
    expect(missingGeneratorFlags(['--enable-source-maps'])).toEqual(['--no-memory-reducer']);
  });
});
