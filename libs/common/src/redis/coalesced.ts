/**
 * One call of `fn` for every caller that asks before it is made: the call is made once the
 * current microtasks have run, so callers finishing together (a group of writes, the events one
 * broker read delivered) share it. Each caller's request happened before the shared call was
 * made, which is what makes sharing a "bump after my change" safe. A caller that asks after the
 * call was made gets a new one.
 */
export function coalesced(fn: () => Promise<unknown>): () => Promise<void> {
  let pending: Promise<void> | undefined;
  return () =>
    (pending ??= new Promise<void>((resolve, reject) =>
      queueMicrotask(() => {
        pending = undefined;
        fn().then(() => resolve(), reject);
      }),
    ));
}
