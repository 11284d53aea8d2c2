import { etagOf, notModified, preconditionHolds } from './etag';

describe('entity tags', () => {
  it('tag the exact text: same text, same tag; any change, another', () => {
    expect(etagOf('{"a":1}')).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(etagOf('{"a":1}')).toBe(etagOf('{"a":1}'));
    expect(etagOf('{"a":1}')).not.toBe(etagOf('{"a":2}'));
  });

  it('match If-None-Match lists, weak tags and *, nothing else', () => {
    const tag = etagOf('x');
    expect(notModified(tag, tag)).toBe(true);
    expect(notModified(`"other", W/${tag}`, tag)).toBe(true);
    expect(notModified(['"other"', tag], tag)).toBe(true);
    expect(notModified(' * ', tag)).toBe(true);
    expect(notModified(undefined, tag)).toBe(false);
    expect(notModified('"other"', tag)).toBe(false);
    expect(notModified(tag.slice(1, -1), tag)).toBe(false);
  });

  it('match If-Match strongly: listed tags and *, never a weak tag', () => {
    const tag = etagOf('x');
    expect(preconditionHolds(tag, tag)).toBe(true);
    expect(preconditionHolds(`"other", ${tag}`, tag)).toBe(true);
    expect(preconditionHolds('*', tag)).toBe(true);
    expect(preconditionHolds(`W/${tag}`, tag)).toBe(false);
    expect(preconditionHolds('"other"', tag)).toBe(false);
  });
});
