import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { freePort } from './platform';

describe('freePort', () => {
  it('hands out distinct ports outside the kernel ephemeral range, each one free to listen on', async () => {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    const ports: number[] = [];
    for (let i = 0; i < 20; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) {
      // Inside the range, the kernel could give the port to a socket bound to port 0 before its server listens.
      expect(port < low || port > high).toBe(true);
      expect(port).toBeGreaterThanOrEqual(1024);
    }
    const srv = createServer();
    await new Promise<void>((ok, fail) => srv.once('error', fail).listen(ports[0], '127.0.0.1', ok));
    await new Promise((ok) => srv.close(ok));
  });

  it('never hands out a port something listens on', async () => {
    // Occupy the ports it gives, one after another: the next one is always another, free port.
    const held: ReturnType<typeof createServer>[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        const port = await freePort();
        const srv = createServer();
        await new Promise<void>((ok, fail) => srv.once('error', fail).listen(port, '127.0.0.1', ok));
        held.push(srv);
      }
      expect(held).toHaveLength(10);
    } finally {
      await Promise.all(held.map((s) => new Promise((ok) => s.close(ok))));
    }
  });
});
