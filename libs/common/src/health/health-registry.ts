import { Injectable } from '@nestjs/common';
import type { DependencyHealth } from '#contracts';
import { probe } from './indicators';

/** The dependencies a process checks for its health report; modules register theirs at start-up. */
@Injectable()
export class HealthRegistry {
  private readonly checks = new Map<string, { run: () => Promise<DependencyHealth>; required: boolean }>();

  register(name: string, run: () => Promise<DependencyHealth>, required = true): void {
    this.checks.set(name, { run, required });
  }

  /** Registers a plain async probe (anything that resolves when the dependency works). */
  registerProbe(name: string, fn: () => Promise<unknown>, required = true): void {
    this.register(name, () => probe(fn), required);
  }

  async runAll(): Promise<{ ok: boolean; checks: Record<string, DependencyHealth & { required: boolean }> }> {
    const entries = await Promise.all(
      [...this.checks].map(async ([name, c]) => [name, { ...(await c.run()), required: c.required }] as const),
    );
    const checks = Object.fromEntries(entries);
    const ok = entries.every(([, r]) => r.status === 'up' || !r.required);
    return { ok, checks };
  }
}
