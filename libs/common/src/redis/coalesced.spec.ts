import { coalesced } from './coalesced';

describe('coalesced', () => {
  it('makes one call for the callers that asked before it was made, and a new one after', async () => {
    let calls = 0;
    const bump = coalesced(async () => void calls++);
    await Promise.all([bump(), bump(), bump()]);
    expect(calls).toBe(1);
    await bump();
    expect(calls).toBe(2);
  });

  it('is made after every sharing caller asked (so it follows their changes)', async () => {
    const order: string[] = [];
    const bump = coalesced(async () => void order.push('call'));
    const a = bump();
    order.push('a asked');
    await Promise.resolve();
    const b = bump();
    order.push('b asked');
    await Promise.all([a, b]);
    expect(order).toEqual(['a asked', 'call', 'b asked', 'call']);
  });

  it('hands a failure to every caller that shared the call', async () => {
    const bump = coalesced(() => Promise.reject(new Error('redis down')));
    const results = await Promise.allSettled([bump(), bump()]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });

  it("hands every sharing caller the call's result", async () => {
    let calls = 0;
    const read = coalesced(async () => ++calls);
    expect(await Promise.all([read(), read()])).toEqual([1, 1]);
    expect(await read()).toBe(2);
  });

  describe("window 'io'", () => {
    it('shares one call among callers from different I/O callbacks of the same turn, made after all of them', async () => {
      const order: string[] = [];
      let calls = 0;
      const read = coalesced(async () => {
        order.push('call');
        return ++calls;
      }, 'io');
      // Two timers due together run in the same timers phase, as separate callbacks (with
      // microtasks drained between them), like two sockets' data in one poll phase.
      const results = await new Promise<number[]>((done) => {
        const got: Promise<number>[] = [];
        setTimeout(() => {
          got.push(read());
          order.push('first asked');
        }, 1);
        setTimeout(() => {
          got.push(read());
          order.push('second asked');
          void Promise.all(got).then(done);
        }, 1);
      });
      expect(results).toEqual([1, 1]);
      expect(order).toEqual(['first asked', 'second asked', 'call']);
      expect(await read()).toBe(2);
    });

    it('does not hand a caller a call made before it asked', async () => {
      let state = 'old';
      const read = coalesced(async () => state, 'io');
      const first = read();
      await new Promise((r) => setImmediate(r));
      state = 'new';
      // The shared call for `first` has been made: a caller asking now gets a new one.
      expect(await read()).toBe('new');
      expect(await first).toBe('old');
    });
  });
});
