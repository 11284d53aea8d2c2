import { loadConfig } from '../config/config';
import { armCrashPoint, crashPoint, parseCrashPoint } from './crash-point';

describe('crash points', () => {
  afterEach(() => armCrashPoint(undefined));

  it('reads point and point@n, and names what is wrong otherwise', () => {
    expect(parseCrashPoint('registry.version.committed')).toEqual({ point: 'registry.version.committed', nth: 1 });
    expect(parseCrashPoint('registry.version.committed@3')).toEqual({ point: 'registry.version.committed', nth: 3 });
    expect(parseCrashPoint('registry.version.committed@0')).toMatch(/not <point> or <point>@<n>/);
    expect(parseCrashPoint('registry.nowhere')).toMatch(
      /unknown crash point 'registry.nowhere'; known: registry.change.committed, outbox.published, registry.version.committed/,
    );
  });

  it('fires once, on the n-th pass of its own point only', () => {
    const kills: string[] = [];
    armCrashPoint({ point: 'registry.version.committed', nth: 3 });
    for (let pass = 1; pass <= 5; pass++) crashPoint('registry.version.committed', () => kills.push(`pass ${pass}`));
    expect(kills).toEqual(['pass 3']);
  });

  it('does nothing unarmed', () => {
    const kills: number[] = [];
    crashPoint('registry.version.committed', () => kills.push(1));
    expect(kills).toEqual([]);
  });

  it('is refused by the configuration outside tests, and for unknown points', () => {
    expect(() => loadConfig({ FAULT_CRASH_AT: 'registry.version.committed' })).toThrow(/FAULT_CRASH_AT: only with NODE_ENV=test/);
    expect(() => loadConfig({ NODE_ENV: 'production', FAULT_CRASH_AT: 'registry.version.committed' })).toThrow(/only with NODE_ENV=test/);
    expect(() => loadConfig({ NODE_ENV: 'test', FAULT_CRASH_AT: 'gateway.somewhere' })).toThrow(/unknown crash point 'gateway.somewhere'/);
    expect(loadConfig({ NODE_ENV: 'test', FAULT_CRASH_AT: 'registry.version.committed@2' }).crashAt).toEqual({
      point: 'registry.version.committed',
      nth: 2,
    });
    expect(loadConfig({ NODE_ENV: 'test' }).crashAt).toBeUndefined();
  });
});
