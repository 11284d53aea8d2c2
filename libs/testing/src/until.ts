/**
 * Polls `condition` until it holds, failing with `description` after `ms`. For tests waiting on
 * something that happens on its own schedule (a lease taken, a renewal made), never a fixed sleep.
 */
export async function until(condition: () => boolean | Promise<boolean>, description: string, ms = 5000, everyMs = 10): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`${description}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
