import { JsonLogger } from './json-logger';
import { requestContext, sanitizeRequestId } from './request-context';

describe('JsonLogger', () => {
  it('writes one JSON object per line with service, level, context and the current request id', () => {
    const lines: string[] = [];
    const logger = new JsonLogger('svc', 'info', (l) => lines.push(l));
    requestContext.run({ requestId: 'req-1' }, () => logger.log({ msg: 'hello', n: 1 }, 'Ctx'));
    logger.debug('dropped below level');
    logger.error('bad', 'stack-trace', 'Ctx2');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0])).toMatchObject({ level: 'info', service: 'svc', request_id: 'req-1', context: 'Ctx', msg: 'hello', n: 1 });
    expect(JSON.parse(lines[1])).toMatchObject({ level: 'error', msg: 'bad', stack: 'stack-trace', context: 'Ctx2' });
  });

  it('keeps the request id across awaits', async () => {
    const seen = await requestContext.run({ requestId: 'r-2' }, async () => {
      await new Promise((r) => setTimeout(r, 5));
      return requestContext.requestId();
    });
    expect(seen).toBe('r-2');
  });

  it('accepts only harmless request ids from callers', () => {
    expect(sanitizeRequestId('abc-123:x.y_z')).toBe('abc-123:x.y_z');
    expect(sanitizeRequestId('bad id\n{"level":"error"}')).toMatch(/^[0-9a-f-]{36}$/);
    expect(sanitizeRequestId('x'.repeat(129))).toMatch(/^[0-9a-f-]{36}$/);
  });
});
