import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describeReclaim, kdamondCpuMs, reclaimMonitors } from './host';

describe('host reclaim facts', () => {
  let root: string;
  const put = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text + '\n');
  };
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'host-spec-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('reads the DAMON monitors as the kernel lays them out in sysfs', () => {
    const ctx = 'damon/kdamonds/0/contexts/0';
    put('damon/kdamonds/nr_kdamonds', '1');
    put('damon/kdamonds/0/state', 'on');
    put(`${ctx}/operations`, 'paddr');
    put(`${ctx}/monitoring_attrs/intervals/sample_us`, '500000');
    put(`${ctx}/schemes/0/action`, 'pageout');
    put(`${ctx}/schemes/nr_schemes`, '1');
    const monitors = reclaimMonitors(join(root, 'damon'));
    expect(monitors).toEqual([{ id: 'kdamonds/0', state: 'on', operations: ['paddr'], sampleMs: [500], actions: ['pageout'] }]);
    expect(describeReclaim(monitors)).toBe('kdamonds/0 (paddr, sampling every 500 ms, pageout)');
    put('damon/kdamonds/0/state', 'off');
    expect(describeReclaim(reclaimMonitors(join(root, 'damon')))).toBe('no DAMON memory monitor running');
  });

  it('finds no monitor without DAMON, and sums only the kdamond threads’ CPU', () => {
    expect(reclaimMonitors(join(root, 'missing'))).toEqual([]);
    put('proc/12/comm', 'kdamond.0');
    put('proc/12/schedstat', '2500000 10 3');
    put('proc/13/comm', 'node');
    put('proc/13/schedstat', '9000000000 10 3');
    put('proc/self/comm', 'kdamond.1');
    expect(kdamondCpuMs(join(root, 'proc'))).toBe(2.5);
  });
});
