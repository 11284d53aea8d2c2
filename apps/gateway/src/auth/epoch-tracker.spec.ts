import { EpochTracker, parseInvalidation } from './auth-state.service';

describe('EpochTracker', () => {
  it('drops the caches on the first epoch it sees, then only for broadcasts it has not applied', () => {
    const t = new EpochTracker();
    expect(t.observe(5)).toBe(true); // nothing known about what came before
    expect(t.observe(5)).toBe(false);
    t.markApplied(6);
    t.markApplied(7);
    expect(t.observe(7)).toBe(false); // both applied
    t.markApplied(9); // 8 is still on its way
    expect(t.observe(9)).toBe(true);
    expect(t.observe(9)).toBe(false);
  });

  it('accepts broadcasts applied out of order, and ones applied before the epoch read that covers them', () => {
    const t = new EpochTracker();
    t.observe(0);
    t.markApplied(2);
    t.markApplied(1);
    t.markApplied(3);
    expect(t.observe(2)).toBe(false);
    expect(t.observe(3)).toBe(false); // 3 was kept for the later read
    t.markApplied(3); // a broadcast already covered: ignored
    t.markApplied(4);
    t.markApplied(5);
    expect(t.observe(6)).toBe(true); // 6 missing
  });

  it('drops the caches when the epoch goes back (Redis lost it) and starts again from there', () => {
    const t = new EpochTracker();
    t.observe(10);
    t.markApplied(11);
    expect(t.observe(2)).toBe(true);
    t.markApplied(3);
    expect(t.observe(3)).toBe(false);
    expect(t.observe(11)).toBe(true); // the 11 applied before the reset does not count any more
  });
});

describe('parseInvalidation', () => {
  it('reads numbered messages and bare JSON from instances without epochs', () => {
    expect(parseInvalidation('42 {"kind":"user","id":"u1"}')).toEqual({ epoch: 42, invalidation: { kind: 'user', id: 'u1' } });
    expect(parseInvalidation('{"kind":"sessions","ids":["a b"]}')).toEqual({
      epoch: undefined,
      invalidation: { kind: 'sessions', ids: ['a b'] },
    });
    expect(() => parseInvalidation('7 not json')).toThrow();
  });
});
