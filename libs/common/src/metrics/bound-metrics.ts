import {
  Counter,
  Histogram,
  type Aggregator,
  type CounterConfiguration,
  type HistogramConfiguration,
  type LabelValues,
  type MetricObjectWithValues,
  type MetricValueWithName,
} from 'prom-client';

/**
 * prom-client metrics with pre-bound series for hot paths.
 *
 * prom-client does its label work on every call, children from `labels()` included: it
 * validates the label names and builds the series' hash string (and a histogram wraps each
 * observation in a new object) — four times per cached read at the gateway, about 2 % of its CPU
 * and a share of its garbage. A series bound here once counts into plain numbers. The output is
 * prom-client's own (counters are handed to it when scraped; histograms are written in its
 * format), so `/metrics` is unchanged, and the ordinary `inc` / `observe` / `labels` calls keep
 * working on the same metric.
 */
export interface CounterSeries {
  inc: (value?: number) => void;
}

export interface HistogramSeries {
  /** One observation (seconds, for the duration histograms). */
  observe: (value: number) => void;
}

function seriesKey(labelNames: readonly string[], labels: Record<string, string | number | undefined>): string {
  return labelNames.map((n) => String(labels[n] ?? '')).join('\u0000');
}

export class BoundCounter<T extends string = string> extends Counter<T> {
  private readonly pending = new Map<string, { labels: LabelValues<T>; value: number }>();
  private readonly names: readonly string[];

  constructor(config: CounterConfiguration<T>) {
    const own = config.collect;
    super({
      ...config,
      // Runs before every scrape (and get()): hands the bound series' counts to prom-client.
      collect(this: Counter<T>) {
        (this as BoundCounter<T>).flush();
        return own?.call(this);
      },
    });
    this.names = config.labelNames ?? [];
  }

  /** A series whose increments cost an addition; the labels are checked once, here. */
  bind(labels: LabelValues<T>): CounterSeries {
    const key = seriesKey(this.names, labels);
    let series = this.pending.get(key);
    if (!series) {
      this.inc(labels, 0); // validates the labels now, and the series shows (as 0) before its first count
      series = { labels: { ...labels }, value: 0 };
      this.pending.set(key, series);
    }
    const s = series;
    return {
      inc: (value = 1) => {
        s.value += value;
      },
    };
  }

  protected flush(): void {
    for (const s of this.pending.values()) {
      if (s.value === 0) continue;
      const value = s.value;
      s.value = 0;
      this.inc(s.labels, value);
    }
  }

  override reset(): void {
    // prom-client's constructor resets before this class's fields exist.
    for (const s of this.pending?.values() ?? []) s.value = 0;
    super.reset();
  }
}

interface HistogramData<T extends string> {
  labels: LabelValues<T>;
  /** Per bucket (not cumulative), the last one for values above every bound (+Inf). */
  counts: Float64Array;
  sum: number;
  count: number;
}

type ExportedValue = {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string | number>;
  value: number;
  metricName: string;
  exemplar?: null;
};

/**
 * A histogram whose every series (bound or not) lives in typed arrays; written out exactly as
 * prom-client writes its histograms (cumulative `_bucket` with `le`, `+Inf`, `_sum`, `_count`).
 */
export class BoundHistogram<T extends string = string> extends Histogram<T> {
  private readonly series = new Map<string, HistogramData<T>>();
  private readonly names: readonly string[];
  private readonly bounds: number[];
  private readonly config: HistogramConfiguration<T>;

  constructor(config: HistogramConfiguration<T> & { buckets: number[] }) {
    super(config);
    this.config = config;
    this.names = config.labelNames ?? [];
    this.bounds = [...config.buckets].sort((a, b) => a - b);
    // prom-client assigns observe per instance; every observation goes to the typed series.
    const observeOne = (labels: LabelValues<T> | number, value?: number) => {
      if (typeof labels === 'number') this.bindLabels({}).observe(labels);
      else this.bindLabels(labels).observe(value!);
    };
    (this as unknown as { observe: typeof observeOne }).observe = observeOne;
    if (this.names.length === 0) this.bindLabels({}); // shown as zeros, as prom-client does
  }

  /** Like prom-client's children, but counting into the typed series. */
  override labels(...args: [LabelValues<T>] | string[]) {
    const first = args[0];
    const labels = (typeof first === 'object' ? first : Object.fromEntries(this.names.map((n, i) => [n, args[i]]))) as LabelValues<T>;
    const series = this.bindLabels(labels);
    return {
      observe: series.observe,
      startTimer: () => {
        const start = process.hrtime();
        return (end?: LabelValues<T>) => {
          const [s, ns] = process.hrtime(start);
          const seconds = s + ns / 1e9;
          if (end) this.bindLabels({ ...labels, ...end }).observe(seconds);
          else series.observe(seconds);
          return seconds;
        };
      },
    };
  }

  bind(labels: LabelValues<T>): HistogramSeries {
    return this.bindLabels(labels);
  }

  private bindLabels(labels: LabelValues<T>): HistogramSeries {
    const key = seriesKey(this.names, labels);
    let data = this.series.get(key);
    if (!data) {
      for (const name of Object.keys(labels)) {
        if (!this.names.includes(name))
          throw new Error(`Added label "${name}" is not included in initial labelset: ${this.names.join(', ')}`);
      }
      data = { labels: { ...labels }, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.series.set(key, data);
    }
    const d = data;
    const bounds = this.bounds;
    return {
      observe: (value: number) => {
        if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
        let i = 0;
        while (i < bounds.length && value > bounds[i]) i++;
        d.counts[i]++;
        d.sum += value;
        d.count++;
      },
    };
  }

  private exported(): ExportedValue[] {
    const values: ExportedValue[] = [];
    const name = this.config.name;
    const bucket = `${name}_bucket`;
    for (const d of this.series.values()) {
      const shared = d.labels as Record<string, string | number>;
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += d.counts[i];
        values.push({ labels: { le }, sharedLabels: shared, value: acc, metricName: bucket, exemplar: null });
      });
      values.push({ labels: { le: '+Inf' }, sharedLabels: shared, value: d.count, metricName: bucket, exemplar: null });
      values.push({ labels: {}, sharedLabels: shared, value: d.sum, metricName: `${name}_sum` });
      values.push({ labels: {}, sharedLabels: shared, value: d.count, metricName: `${name}_count` });
    }
    return values;
  }

  /** What the registry writes to /metrics (prom-client's format). */
  async getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; values: ExportedValue[]; aggregator: Aggregator }> {
    // A collect callback given in the configuration runs before every scrape, as in prom-client.
    await this.config.collect?.call(this);
    const { name, help, aggregator = 'sum' } = this.config;
    return { name, help, type: 'histogram', values: this.exported(), aggregator };
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<T>>> {
    const data = await this.getForPromString();
    const values = data.values.map(({ labels, sharedLabels, ...rest }) => ({
      ...rest,
      labels: { ...labels, ...sharedLabels } as LabelValues<T>,
    }));
    // The shape prom-client's get() returns (its typings add a collect member and a numeric type it does not have).
    return { ...data, values } as unknown as MetricObjectWithValues<MetricValueWithName<T>>;
  }

  /** Zeroes every series in place (bound series keep counting into theirs). */
  override reset(): void {
    for (const d of this.series?.values() ?? []) {
      d.counts.fill(0);
      d.sum = 0;
      d.count = 0;
    }
    super.reset();
  }

  override zero(labels: LabelValues<T>): void {
    this.bindLabels(labels);
  }
}
