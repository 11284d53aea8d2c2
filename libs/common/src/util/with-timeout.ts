/**
 * `work`, or a rejection with `timeoutError()` if it has not settled within `ms` (the work itself
 * goes on; the caller stops waiting for it). The timer is cleared either way.
 */
export async function withTimeout<T>(work: Promise<T>, ms: number, timeoutError: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(timeoutError()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
