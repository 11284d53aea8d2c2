import { z } from 'zod';
import { ErrorCode } from '#contracts';
import { DomainError, httpStatusFor, isRpcErrorPayload } from './domain-error';
import { illFormedStringPath, parseOrThrow, validationError } from './zod-error';

describe('domain errors', () => {
  it('map every code to a 4xx/5xx status', () => {
    const statuses = Object.values(ErrorCode).map((c) => [c, httpStatusFor(c)] as const);
    for (const [code, status] of statuses) {
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(600);
      // Only server-side failures are 5xx.
      expect(status >= 500).toBe(['INTERNAL', 'SERVICE_UNAVAILABLE', 'SERVICE_TIMEOUT'].includes(code));
    }
    expect(httpStatusFor(ErrorCode.NOT_FOUND)).toBe(404);
    expect(httpStatusFor(ErrorCode.CONFLICT)).toBe(409);
    expect(httpStatusFor(ErrorCode.UNPROCESSABLE)).toBe(422);
    expect(httpStatusFor(ErrorCode.PRECONDITION_FAILED)).toBe(412);
    expect(httpStatusFor(ErrorCode.SERVICE_TIMEOUT)).toBe(504);
  });

  it('survive the RPC wire as payloads', () => {
    const e = new DomainError(ErrorCode.CONFLICT, 'taken', { field: 'name' });
    const wire = JSON.parse(JSON.stringify(e.toPayload())) as unknown;
    expect(isRpcErrorPayload(wire)).toBe(true);
    expect(isRpcErrorPayload({ code: 'SOMETHING_ELSE', message: 'x' })).toBe(false);
    expect(isRpcErrorPayload('boom')).toBe(false);
  });
});

describe('validation errors', () => {
  const schema = z.strictObject({ name: z.string().min(3), size: z.number().int().optional() });

  it('name the offending field in the message and list all problems', () => {
    const r = schema.safeParse({ name: 'x', size: 1.5 });
    const err = validationError(r.error!);
    expect(err.code).toBe(ErrorCode.VALIDATION_FAILED);
    expect(err.message).toMatch(/^Invalid body\.name: .*\(and 1 more problem\)$/);
    expect(err.details).toEqual([expect.objectContaining({ field: 'name' }), expect.objectContaining({ field: 'size' })]);
  });

  it('name unknown fields', () => {
    expect(() => parseOrThrow(schema, { name: 'abc', admin: true })).toThrow(/Unrecognized key: "admin"/);
    try {
      parseOrThrow(schema, { name: 'abc', admin: true });
    } catch (e) {
      expect((e as DomainError).details).toEqual([expect.objectContaining({ fields: ['admin'] })]);
    }
  });

  it("name the fields an object accepts next to the unknown ones, at any depth, behind refinements, and keep a schema's own message", () => {
    const nested = z
      .strictObject({ page: z.number().optional(), filter: z.strictObject({ tag: z.string(), owner: z.string() }).optional() })
      .refine(() => true);
    expect(() => parseOrThrow(nested, { limit: 5 }, 'query')).toThrow('Invalid query: Unrecognized key: "limit"; accepted: page, filter');
    expect(() => parseOrThrow(nested, { filter: { tag: 'a', owner: 'b', tags: 1, user: 2 } })).toThrow(
      'Invalid body.filter: Unrecognized keys: "tags", "user"; accepted: tag, owner',
    );
    const wide = z.strictObject(Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`f${i}`, z.string().optional()])));
    expect(() => parseOrThrow(wide, { g: 1 })).toThrow(/accepted: f0, f1, .*, f19, … \(5 more\)$/);
    const own = z.strictObject({ a: z.string() }, { error: (i) => (i.code === 'unrecognized_keys' ? 'spelled otherwise' : undefined) });
    expect(() => parseOrThrow(own, { a: 'x', b: 1 })).toThrow('Invalid body: spelled otherwise');
  });

  it('explain a missing body', () => {
    expect(() => parseOrThrow(schema, undefined)).toThrow(/^Invalid body: .*expected object/);
  });

  it('refuse a string that is not well-formed Unicode, naming where it is, and accept paired surrogates', () => {
    const any = z.record(z.string(), z.unknown());
    expect(() => parseOrThrow(any, { tools: [{ name: 'ok 🚀' }, { name: 'bad \ud83d' }] })).toThrow(
      /^Invalid body\.tools\.1\.name: contains an unpaired UTF-16 surrogate/,
    );
    expect(() => parseOrThrow(any, { ['\udc00key']: 1 })).toThrow(/^Invalid body\.\udc00key: contains an unpaired/);
    expect(parseOrThrow(any, { emoji: '🚀 \ud83d\ude80' })).toEqual({ emoji: '🚀 🚀' });
  });

  it('find an ill-formed string at any depth, in a key or a value, with its whole path, and walk deep nesting without recursion', () => {
    expect(illFormedStringPath('fine')).toBeUndefined();
    expect(illFormedStringPath('\udc00')).toEqual([]);
    expect(illFormedStringPath(42)).toBeUndefined();
    expect(illFormedStringPath({ a: [1, null, true, { b: ['x', 'y \ud800 z'] }] })).toEqual(['a', 3, 'b', 1]);
    expect(illFormedStringPath({ a: { ['k\udfff']: 'v' } })).toEqual(['a', 'k\udfff']);
    expect(illFormedStringPath([[], {}, [[['ok', '🚀']]]])).toBeUndefined();
    // 100,000 levels, as a hostile body could nest them: a recursive walk would overflow the stack.
    let deep: unknown = ['\ud83d'];
    for (let i = 0; i < 100_000; i++) deep = { n: deep };
    const path = illFormedStringPath(deep);
    expect(path).toHaveLength(100_001);
    expect(path?.slice(0, 2)).toEqual(['n', 'n']);
    expect(path?.at(-1)).toBe(0);
  });

  it('say what each form of a union wanted when none matched, instead of a bare "Invalid input"', () => {
    const flag = z.strictObject({ on: z.union([z.boolean(), z.enum(['true', 'false'])]) });
    const err = validationError(flag.safeParse({ on: 'yes' }).error!, 'query');
    expect(err.message).toMatch(
      /^Invalid query\.on: matches none of the accepted forms: \(1\) .*expected boolean.*; \(2\) .*"true"\|"false"/,
    );
    expect(err.message).not.toMatch(/Invalid input$/);
    // A form's own nested field is named inside its part of the message.
    const shape = z.union([z.strictObject({ a: z.string() }), z.strictObject({ b: z.number() })]);
    expect(validationError(shape.safeParse({ a: 1 }).error!).message).toMatch(/\(1\) a: .*expected string/);
  });
});
