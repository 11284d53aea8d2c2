import { LocalCache } from './local-cache';

describe('LocalCache', () => {
  let now = 1000;
  const clock = () => now;

  it('expires entries after their TTL', () => {
    const c = new LocalCache<string>(100, 10, clock);
    c.set('a', 'x');
    now += 99;
    expect(c.get('a')).toBe('x');
    now += 1;
    expect(c.get('a')).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('evicts the oldest entry when full, and a re-set entry counts as new', () => {
    const c = new LocalCache<number>(1000, 2, clock);
    c.set('a', 1);
    c.set('b', 2);
    c.set('a', 3);
    c.set('c', 4);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe(3);
    expect(c.get('c')).toBe(4);
  });

  it('deletes and clears', () => {
    const c = new LocalCache<number>(1000, 10, clock);
    c.set('a', 1);
    c.set('b', 2);
    c.delete('a');
    expect(c.get('a')).toBeUndefined();
    c.clear();
    expect(c.get('b')).toBeUndefined();
  });
});
