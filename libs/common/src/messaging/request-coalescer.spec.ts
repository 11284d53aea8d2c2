import { RequestCoalescer } from './request-coalescer';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends through the coalescer like RpcClient does; records when each request went out. */
function sender(c: RequestCoalescer, sent: string[]) {
  return async (name: string) => {
    const held = c.enter();
    if (held) await held;
    sent.push(name);
  };
}

describe('RequestCoalescer', () => {
  it('sends a request at once when none is awaiting an answer', () => {
    const c = new RequestCoalescer(50);
    expect(c.enter()).toBeUndefined();
    c.leave();
    expect(c.enter()).toBeUndefined();
  });

  it('holds requests while one is outstanding and sends them together, in order, once it is answered', async () => {
    const releases: number[] = [];
    const c = new RequestCoalescer(10_000, (n) => releases.push(n));
    const sent: string[] = [];
    const send = sender(c, sent);
    await send('first');
    const later = [send('a'), send('b'), send('c')];
    await sleep(20);
    expect(sent).toEqual(['first']);
    expect(c.waiting).toBe(3);
    c.leave(); // 'first' answered
    await Promise.all(later);
    expect(sent).toEqual(['first', 'a', 'b', 'c']);
    expect(releases).toEqual([3]);
    // The released three are outstanding now: a fourth waits for all of them.
    const d = send('d');
    c.leave();
    c.leave();
    await sleep(5);
    expect(sent).toHaveLength(4);
    c.leave();
    await d;
    expect(sent).toEqual(['first', 'a', 'b', 'c', 'd']);
  });

  it('sends held requests after maxWaitMs even while the earlier one is still unanswered', async () => {
    const c = new RequestCoalescer(30);
    const sent: string[] = [];
    const send = sender(c, sent);
    await send('slow');
    const started = performance.now();
    await Promise.all([send('x'), send('y')]);
    const waited = performance.now() - started;
    expect(sent).toEqual(['slow', 'x', 'y']);
    expect(waited).toBeGreaterThanOrEqual(25);
    expect(waited).toBeLessThan(1000);
  });

  it('sends a full batch at once, without waiting for the answers or the hold', async () => {
    const releases: number[] = [];
    const c = new RequestCoalescer(10_000, (n) => releases.push(n), 3);
    const sent: string[] = [];
    const send = sender(c, sent);
    await send('first');
    const two = [send('a'), send('b')];
    await sleep(5);
    expect(sent).toEqual(['first']);
    await Promise.all([...two, send('c')]);
    expect(sent).toEqual(['first', 'a', 'b', 'c']);
    expect(releases).toEqual([3]);
    expect(c.waiting).toBe(0);
  });

  it('never holds anything when disabled (maxWaitMs 0)', () => {
    const c = new RequestCoalescer(0);
    expect(c.enter()).toBeUndefined();
    expect(c.enter()).toBeUndefined();
    expect(c.waiting).toBe(0);
  });

  it('does not hold a request behind held ones that a failed request released', async () => {
    const c = new RequestCoalescer(10_000);
    const sent: string[] = [];
    const send = sender(c, sent);
    await send('first');
    const held = send('second');
    c.leave(); // 'first' failed: the held one goes
    await held;
    c.leave(); // 'second' answered: nothing outstanding, the next goes at once
    expect(c.enter()).toBeUndefined();
  });
});
