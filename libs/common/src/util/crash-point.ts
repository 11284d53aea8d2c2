/**
 * Crash points, for tests that must crash a service at one exact instant. A kill from outside
 * lands wherever the process happens to be; some instants matter more than others and are too
 * short to hit that way — above all the one between a write's COMMIT and its answer, where the
 * change is durable but nobody has been told. With `FAULT_CRASH_AT=<point>` (or `<point>@<n>`: the
 * n-th time it is reached), the process kills itself with SIGKILL when it gets there: no shutdown
 * hook runs, nothing is acknowledged or flushed, as after a crash or the OOM killer.
 *
 * Only with NODE_ENV=test: the configuration refuses it otherwise (loadConfig), since it stops the
 * service on purpose. Unarmed, a crash point costs one comparison.
 */
export const CRASH_POINTS = {
  'registry.change.committed':
    "a change other than a version publish (a tool's create, update, delete, …) has committed with its history and outbox event; its cache bump and its answer have not happened",
  'outbox.published':
    'an outbox relay pass has published its events (the broker confirmed them) and not yet marked them published: the next pass publishes them again, under the same ids',
  'registry.version.committed':
    "a version publish's transaction has committed (version, history, outbox event and, with a key, the idempotency record); its cache bump and its answer have not happened",
} as const;

export type CrashPointName = keyof typeof CRASH_POINTS;

export interface CrashPointSpec {
  point: CrashPointName;
  /** Crash the n-th time the point is reached (1: the first). */
  nth: number;
}

/** `point` or `point@n` as FAULT_CRASH_AT writes it; an error message naming what is wrong otherwise. */
export function parseCrashPoint(text: string): CrashPointSpec | string {
  const m = /^([a-z.-]+)(?:@([1-9]\d{0,8}))?$/.exec(text);
  if (!m) return `'${text}' is not <point> or <point>@<n> (n ≥ 1)`;
  if (!(m[1] in CRASH_POINTS)) return `unknown crash point '${m[1]}'; known: ${Object.keys(CRASH_POINTS).join(', ')}`;
  return { point: m[1] as CrashPointName, nth: m[2] ? Number(m[2]) : 1 };
}

let armed: { point: CrashPointName; remaining: number } | undefined;

/** Arms one crash point for this process (bootstrapService does it from the configuration); undefined disarms. */
export function armCrashPoint(spec: CrashPointSpec | undefined): void {
  armed = spec && { point: spec.point, remaining: spec.nth };
}

/** Marks the instant `point` in the code: the process dies here if the point is armed and this is its n-th pass. */
export function crashPoint(point: CrashPointName, kill: () => void = () => process.kill(process.pid, 'SIGKILL')): void {
  if (armed?.point !== point || --armed.remaining > 0) return;
  armed = undefined;
  kill();
}
