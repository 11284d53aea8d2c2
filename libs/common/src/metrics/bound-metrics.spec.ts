import { Counter, Histogram, Registry } from 'prom-client';
import { BoundCounter, BoundHistogram } from './bound-metrics';

const BUCKETS = [0.001, 0.005, 0.01, 0.1, 1];
const LABELS = ['method', 'route', 'status'] as const;

/** The same metrics twice: prom-client's own, and the bound ones, each in a registry of its own. */
function pair() {
  const plain = new Registry();
  const bound = new Registry();
  for (const r of [plain, bound]) r.setDefaultLabels({ service: 'test' });
  const counters = {
    plain: new Counter({ name: 'requests_total', help: 'Requests', labelNames: LABELS, registers: [plain] }),
    bound: new BoundCounter({ name: 'requests_total', help: 'Requests', labelNames: LABELS, registers: [bound] }),
  };
  const histograms = {
    plain: new Histogram({ name: 'duration_seconds', help: 'Durations', labelNames: LABELS, buckets: BUCKETS, registers: [plain] }),
    bound: new BoundHistogram({ name: 'duration_seconds', help: 'Durations', labelNames: LABELS, buckets: BUCKETS, registers: [bound] }),
  };
  return { plain, bound, counters, histograms };
}

const GET = { method: 'GET', route: '/a', status: '200' };
const POST = { method: 'POST', route: '/b', status: '201' };

describe('bound metrics', () => {
  it('write exactly what prom-client writes, for bound series and ordinary calls alike', async () => {
    const { plain, bound, counters, histograms } = pair();
    const values = [0, 0.0004, 0.001, 0.003, 0.01, 0.05, 0.5, 1, 7.5];
    const series = { count: counters.bound.bind(GET), duration: histograms.bound.bind(GET) };
    for (const v of values) {
      counters.plain.inc(GET);
      series.count.inc();
      histograms.plain.observe(GET, v);
      series.duration.observe(v);
    }
    // The ordinary API on the same metrics: inc with a value, labels() children, startTimer.
    counters.plain.inc(POST, 3);
    counters.bound.inc(POST, 3);
    counters.plain.labels(POST).inc(2);
    counters.bound.labels(POST).inc(2);
    histograms.plain.labels(POST).observe(0.02);
    histograms.bound.labels(POST).observe(0.02);
    histograms.plain.observe(POST, 2);
    histograms.bound.observe(POST, 2);

    expect(await bound.metrics()).toBe(await plain.metrics());
    expect(await bound.getMetricsAsJSON()).toEqual(await plain.getMetricsAsJSON());
    // Scraping twice neither loses nor doubles what the bound series counted.
    series.count.inc(5);
    counters.plain.inc(GET, 5);
    expect(await bound.metrics()).toBe(await plain.metrics());
    expect(await bound.metrics()).toBe(await plain.metrics());
  });

  it('show a bound series (as zeros) before its first count, and keep bound series counting after a reset', async () => {
    const { bound, counters, histograms } = pair();
    const count = counters.bound.bind(GET);
    const duration = histograms.bound.bind(GET);
    const text = await bound.metrics();
    expect(text).toContain('requests_total{method="GET",route="/a",status="200",service="test"} 0');
    expect(text).toContain('duration_seconds_count{service="test",method="GET",route="/a",status="200"} 0');
    count.inc();
    duration.observe(0.004);
    bound.resetMetrics();
    count.inc(2);
    duration.observe(0.5);
    const after = await bound.metrics();
    expect(after).toContain('requests_total{method="GET",route="/a",status="200",service="test"} 2');
    expect(after).toContain('duration_seconds_count{service="test",method="GET",route="/a",status="200"} 1');
    expect(after).toContain('duration_seconds_bucket{le="0.1",service="test",method="GET",route="/a",status="200"} 0');
    expect(after).toContain('duration_seconds_bucket{le="1",service="test",method="GET",route="/a",status="200"} 1');
  });

  it('time with startTimer as prom-client does', async () => {
    const { bound, histograms } = pair();
    const end = histograms.bound.startTimer({ method: 'GET', route: '/t' });
    await new Promise((r) => setTimeout(r, 5));
    const seconds = end({ status: '200' });
    expect(seconds).toBeGreaterThanOrEqual(0.004);
    expect(await bound.metrics()).toContain('duration_seconds_count{service="test",method="GET",route="/t",status="200"} 1');
  });

  it('refuse labels the metric does not declare, and values that are not numbers', () => {
    const { counters, histograms } = pair();
    expect(() => counters.bound.bind({ nope: 'x' } as never)).toThrow(/nope/);
    expect(() => histograms.bound.bind({ nope: 'x' } as never)).toThrow(/nope/);
    expect(() => histograms.bound.bind(GET).observe(Number.NaN)).toThrow(/not a valid number/);
  });
});
