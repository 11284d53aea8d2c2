import { unreachableStore } from './rpc-server';

const named = (name: string, extra: Record<string, unknown> = {}) => Object.assign(new Error('x'), { name }, extra);

describe('unreachableStore', () => {
  it('recognises MongoDB, Redis and socket-level database failures', () => {
    expect(unreachableStore(named('MongoServerSelectionError'))).toBe('MongoDB');
    expect(unreachableStore(named('MongoNetworkError'))).toBe('MongoDB');
    expect(unreachableStore(named('MaxRetriesPerRequestError'))).toBe('Redis');
    expect(unreachableStore(named('Error', { code: 'ECONNREFUSED' }))).toBe('its database');
    expect(unreachableStore(named('QueryFailedError', { driverError: { code: 'PROTOCOL_CONNECTION_LOST' } }))).toBe('its database');
    expect(unreachableStore(named('MongoPoolClearedError'))).toBe('MongoDB');
    expect(unreachableStore(named('PoolClearedOnNetworkError'))).toBe('MongoDB');
  });

  it('looks through the errors an error was caused by, and names the service database for a bare socket error', () => {
    const wrapped = Object.assign(new Error('operation failed', { cause: named('MongoNetworkError') }), { name: 'MongooseError' });
    expect(unreachableStore(wrapped)).toBe('MongoDB');
    expect(unreachableStore(new Error('x', { cause: named('Error', { code: 'ECONNRESET' }) }), 'MongoDB')).toBe('MongoDB');
    expect(unreachableStore(named('Error', { code: 'ECONNREFUSED' }), 'MySQL')).toBe('MySQL');
    expect(unreachableStore(new Error('x', { cause: new TypeError('bug') }))).toBeUndefined();
  });

  it('leaves every other error alone (those stay 500s with an error id)', () => {
    expect(unreachableStore(named('MongoServerError', { code: 11000 }))).toBeUndefined();
    expect(unreachableStore(named('QueryFailedError', { code: 'ER_DUP_ENTRY' }))).toBeUndefined();
    expect(unreachableStore(new TypeError('bug'))).toBeUndefined();
    expect(unreachableStore('not an error')).toBeUndefined();
  });
});
