/**
 * When a shared call is made:
 * - `microtasks`: once the current microtasks have run — callers finishing together (a group of
 *   writes, the events one broker read delivered) share it;
 * - `io`: once the I/O callbacks of this event-loop turn have run (setImmediate) — requests that
 *   arrived on different sockets in the same turn share it.
 */
export type CoalesceWindow = 'microtasks' | 'io';

/**
 * One call of `fn` for every caller that asks before it is made, each caller getting its result.
 * Each caller's request happened before the shared call was made, which is what makes sharing
 * safe both for "bump after my change" and for "read the state as of now or later": the call
 * sees every change that finished before any of its callers asked. A caller that asks after the
 * call was made gets a new one.
 */
export function coalesced<T>(fn: () => Promise<T>, window: CoalesceWindow = 'microtasks'): () => Promise<T> {
  const schedule = window === 'io' ? (run: () => void) => setImmediate(run) : queueMicrotask;
  let pending: Promise<T> | undefined;
  return () =>
    (pending ??= new Promise<T>((resolve, reject) =>
      schedule(() => {
        pending = undefined;
        fn().then(resolve, reject);
      }),
    ));
}
