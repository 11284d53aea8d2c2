/**
 * Waits for the machine to be quiet before a latency scenario, so that its figures are about the
 * load it applies and not about what the scenario before it left behind.
 *
 * Measured here: a minute of maximum-rate version writes fills most of MariaDB's redo log (its
 * checkpoint age reached 72 of 81 MB), and InnoDB (with this machine's default
 * `innodb_io_capacity` 200 and no pre-flushing) flushes dirty pages only from there on — furiously,
 * for tens of seconds, while the next scenario runs. A fixed-rate scenario started right then
 * measured the recovery from that burst, not the fixed rate. A settle waits until the CPUs are
 * mostly idle and, for a scenario that writes to MySQL, until InnoDB's checkpoint age is back
 * under a quarter of its maximum; it gives up after `timeoutMs`, or once the checkpoint age has
 * not fallen for 10 s on an idle machine, and says so.
 */
import { readFileSync } from 'node:fs';
import type { Connection } from 'mysql2/promise';

export interface SettleOptions {
  /** Also wait for InnoDB's checkpoint age to be below this fraction of its maximum (0–1). */
  maxCheckpointFraction?: number;
  /** Machine-wide CPU busy fraction (0–1) that counts as quiet, over one sampling interval. */
  maxBusy?: number;
  timeoutMs?: number;
}

export interface SettleResult {
  waitedMs: number;
  settled: boolean;
  busy: number;
  checkpointFraction?: number;
}

/** Busy and total jiffies of all CPUs together, from /proc/stat. */
export function cpuTimes(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3] + (fields[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

async function checkpointFraction(mysql: Connection): Promise<number> {
  const [rows] = await mysql.query("SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_checkpoint_age', 'Innodb_checkpoint_max_age')");
  const status = new Map((rows as { Variable_name: string; Value: string }[]).map((r) => [r.Variable_name, Number(r.Value)]));
  const max = status.get('Innodb_checkpoint_max_age');
  // Servers that do not report it (MySQL 8) are taken as settled on this count.
  return max ? (status.get('Innodb_checkpoint_age') ?? 0) / max : 0;
}

/** How long the checkpoint age may stay where it is before waiting for it is pointless. */
const STALLED_MS = 10_000;

export async function settle(mysql: Connection | undefined, opts: SettleOptions = {}): Promise<SettleResult> {
  const { maxCheckpointFraction, maxBusy = 0.15, timeoutMs = 90_000 } = opts;
  const start = Date.now();
  // InnoDB may not flush at all while the server sees a little activity (the relays' polls):
  // seen here, a checkpoint age left at 60 % for the whole 90 s. Then waiting longer gains nothing.
  let lowest = { fraction: Infinity, at: start };
  for (;;) {
    const before = cpuTimes();
    await new Promise((r) => setTimeout(r, 1000));
    const after = cpuTimes();
    const busy = (after.busy - before.busy) / Math.max(1, after.total - before.total);
    const fraction = mysql && maxCheckpointFraction !== undefined ? await checkpointFraction(mysql) : undefined;
    const settled = busy <= maxBusy && (fraction === undefined || fraction <= maxCheckpointFraction!);
    const now = Date.now();
    if (fraction !== undefined && fraction < lowest.fraction - 0.01) lowest = { fraction, at: now };
    const stalled = busy <= maxBusy && now - lowest.at >= STALLED_MS;
    const waitedMs = now - start;
    if (settled || stalled || waitedMs >= timeoutMs) return { waitedMs, settled, busy, checkpointFraction: fraction };
  }
}
