/**
 * A fixed-rate HTTP/1.1 load generator for latency-at-a-given-load figures.
 *
 * autocannon's `overallRate` is a per-second quota per connection: every connection sends back to
 * back until its share of the second is used, then waits for the next second. Half the maximum
 * rate is then full saturation for half of every second, and the latency it reports is the
 * latency at saturation. Here request i is due at start + i / rate, evenly spaced; it goes out on
 * an idle keep-alive connection, or waits for one when all are busy. Its latency is counted from
 * the moment the generator handed it out (sent or queued), so time spent waiting for a busy
 * connection counts (no coordinated omission); the generator's own timer lag (≥ 1 ms timers on a
 * shared machine) does not, and is reported separately.
 *
 * The clock starts once every connection is open and has carried one request (not counted), as a
 * keep-alive client or proxy in front of a server keeps its connections: otherwise each run's
 * first few hundred milliseconds measure 64 connections being opened at once, each first request
 * waiting for its handshake, and that burst, not the rate, decided the p99 (measured: at
 * 8,000/s against the gateway, up to 740 of a run's 40,000 requests over 5 ms fell in its first
 * 300 ms; with warmed connections 5–43 in the whole run). Then the rate runs for `rampS` (1 s)
 * before requests are counted, as wrk2 calibrates before it records: after the pause between runs
 * the first ~300 ms at the rate were still slow (up to 480 of a 100 ms window's 800 requests over
 * 5 ms, at the gateway and at the generator itself), and a run measures the rate held, not the
 * step from idle to it.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * V8 flags of the process that generates the load (package.json's bench scripts pass them).
 * `--no-memory-reducer`: a few seconds after the generator's allocation falls off — between
 * scenarios, or at a low paced rate — V8's memory reducer ran full compacting GCs in it (traced:
 * a 34 ms pause after 24 ms of marking steps), and every request in flight then waited for the
 * generator, not for the server: a write run at 500/s whose generator fell 48 ms behind had a p99
 * of 48.5 ms where the other two had 10 and 19 ms.
 */
export const GENERATOR_NODE_FLAGS = ['--no-memory-reducer'];

/** The generator flags a process runs without (the bench warns: its latencies may hold its own GCs). */
export function missingGeneratorFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return GENERATOR_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}

/** For the bench's entry points: a warning on stderr when this process lacks a generator flag (`script`: the npm script that passes them). */
export function warnWithoutGeneratorFlags(script: string): void {
  const missing = missingGeneratorFlags();
  if (missing.length)
    process.stderr.write(
      `warning: the load generator runs without ${missing.join(' ')} (see GENERATOR_NODE_FLAGS in paced.ts): its own GCs may land in the latencies; run it through npm run ${script}\n`,
    );
}

export interface PacedOptions {
  url: string;
  rate: number;
  durationS: number;
  /** Keep-alive connections available; a request waits when all of them are busy. */
  connections?: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** Path and body of each request (e.g. a fresh version number); default: the URL's path, no body. */
  request?: () => { path?: string; body: string };
  /** Seconds at the rate before requests are counted (default 1). */
  rampS?: number;
}

export interface PacedResult {
  rps: number;
  p50: number;
  p99: number;
  max: number;
  /** Transport failures: refused or reset connections, unparsable answers. */
  errors: number;
  non2xx: number;
  /** Why requests failed (socket error codes, answers without Content-Length, non-2xx statuses), with counts. */
  failures: Record<string, number>;
  /** How far (ms) the generator itself fell behind its schedule at worst; above ~2 ms the figures are suspect. */
  maxLagMs: number;
  /** Every request's latency (ms), sorted: to pool several runs before taking percentiles. */
  samples: Float64Array;
}

interface Pending {
  /** When the generator handed the request out. */
  at: number;
  /** Sent to warm up (a connection, the ramp to the rate): answered, never counted. */
  uncounted?: boolean;
  head: Buffer;
  body: string;
}

/** One keep-alive connection with at most one request in flight. */
class Connection {
  private buffer: Buffer = Buffer.alloc(0);
  private current?: Pending;
  private socket!: Socket;
  closing = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly done: (conn: Connection, status: number | undefined, p: Pending) => void,
    /** Why requests failed, by reason (socket error codes, answers without Content-Length): for the report. */
    private readonly failures: Record<string, number>,
  ) {
    this.open();
  }

  private open(): void {
    this.buffer = Buffer.alloc(0);
    this.socket = connect({ host: this.host, port: this.port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      const reason = `socket ${err.code ?? err.message}`;
      this.failures[reason] = (this.failures[reason] ?? 0) + 1;
    });
    this.socket.on('close', () => {
      const lost = this.current;
      this.current = undefined;
      if (lost) this.done(this, undefined, lost);
      if (!this.closing) this.open();
    });
  }

  send(p: Pending): void {
    this.current = p;
    this.socket.write(p.body ? Buffer.concat([p.head, Buffer.from(p.body)]) : p.head);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buffer.subarray(0, end).toString('latin1');
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!length) {
      // Every server measured here sends Content-Length; anything else is a failed request.
      const reason = `answer without Content-Length: ${head.split('\r\n')[0]}`;
      this.failures[reason] = (this.failures[reason] ?? 0) + 1;
      this.socket.destroy();
      return;
    }
    const total = end + 4 + Number(length[1]);
    if (this.buffer.length < total) return;
    this.buffer = this.buffer.subarray(total);
    const p = this.current;
    this.current = undefined;
    if (p) this.done(this, Number(head.slice(9, 12)), p);
  }

  close(): void {
    this.closing = true;
    this.socket.destroy();
  }
}

/** The q-quantile (0–1) of sorted latencies, in ms rounded to 0.1; NaN when there are none. */
export function percentile(sorted: Float64Array, q: number): number {
  return sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 10) / 10 : NaN;
}

export async function paced(opts: PacedOptions): Promise<PacedResult> {
  const url = new URL(opts.url);
  const method = opts.method ?? 'GET';
  const headerLines = Object.entries({ host: url.host, ...opts.headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const build = (): { head: Buffer; body: string } => {
    const { path, body } = opts.request ? opts.request() : { path: undefined, body: '' };
    const lengthLine = method === 'POST' || body ? `content-length: ${Buffer.byteLength(body)}\r\n` : '';
    return { head: Buffer.from(`${method} ${path ?? url.pathname + url.search} HTTP/1.1\r\n${headerLines}${lengthLine}\r\n`), body };
  };

  // Without a request function every request is the same bytes: build them once.
  const fixed = opts.request ? undefined : build();
  const total = Math.round(opts.rate * opts.durationS);
  const ramp = Math.round(opts.rate * (opts.rampS ?? 1));
  const interval = 1000 / opts.rate;
  const latencies = new Float64Array(total);
  let completed = 0;
  let errors = 0;
  let non2xx = 0;
  let maxLag = 0;
  const waiting: Pending[] = [];
  const idle: Connection[] = [];
  let finish!: () => void;
  const finished = new Promise<void>((ok) => (finish = ok));

  // Until every connection has answered its warm-up request, answers only free their connection.
  let warming = opts.connections ?? 64;
  let warmed!: () => void;
  const allWarm = new Promise<void>((ok) => (warmed = ok));
  const onDone = (conn: Connection, status: number | undefined, p: Pending) => {
    if (p.uncounted) {
      if (status === undefined || status < 200 || status >= 300) {
        const reason = `warm-up ${status === undefined ? 'failed' : `status ${status}`}`;
        failures[reason] = (failures[reason] ?? 0) + 1;
      }
    } else {
      latencies[completed++] = performance.now() - p.at;
      if (status === undefined) errors++;
      else if (status < 200 || status >= 300) {
        non2xx++;
        failures[`status ${status}`] = (failures[`status ${status}`] ?? 0) + 1;
      }
    }
    if (warming > 0) {
      if (!conn.closing) idle.push(conn);
      if (--warming === 0) warmed();
      return;
    }
    const next = waiting.shift();
    if (next) conn.send(next);
    else if (!conn.closing) idle.push(conn);
    if (completed === total) finish();
  };
  const failures: Record<string, number> = {};
  const connections = Array.from(
    { length: opts.connections ?? 64 },
    () => new Connection(url.hostname, Number(url.port || 80), onDone, failures),
  );
  for (const conn of connections) conn.send({ at: performance.now(), uncounted: true, ...(fixed ?? build()) });
  const warmUpTimeout = setTimeout(() => warmed(), 30_000);
  await allWarm;
  clearTimeout(warmUpTimeout);
  if (warming > 0) {
    for (const c of connections) c.close();
    throw new Error(`paced: ${warming} of ${connections.length} connections to ${url.host} did not answer a warm-up request within 30 s`);
  }

  const start = performance.now() + 5;
  const counted = start + ramp * interval;
  let next = 0;
  const tick = () => {
    const now = performance.now();
    while (next < ramp + total && start + next * interval <= now) {
      if (next >= ramp) maxLag = Math.max(maxLag, now - (start + next * interval));
      const p: Pending = { at: now, ...(next < ramp ? { uncounted: true } : {}), ...(fixed ?? build()) };
      // Oldest idle connection first: every connection stays in use, so none sits idle past the
      // server's keep-alive timeout and gets closed under a request.
      const conn = idle.shift();
      if (conn) conn.send(p);
      else waiting.push(p);
      next++;
    }
    if (next < ramp + total) setTimeout(tick, Math.max(0, start + next * interval - performance.now()));
  };
  setTimeout(tick, 5);
  const deadline = setTimeout(finish, ((opts.rampS ?? 1) + opts.durationS + 30) * 1000);
  await finished;
  clearTimeout(deadline);
  for (const c of connections) c.close();

  const sorted = latencies.subarray(0, completed).sort();
  return {
    rps: completed / ((performance.now() - counted) / 1000),
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: percentile(sorted, 1),
    errors: errors + (total - completed),
    non2xx,
    maxLagMs: Math.round(maxLag * 10) / 10,
    failures,
    samples: sorted,
  };
}
