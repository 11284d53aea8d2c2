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
});
