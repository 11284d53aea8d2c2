import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { parseConfigFile } from './config-file';
import { join } from 'node:path';
import { ErrorCode, type Actor, type ConfigStatus, type ImportReport } from '#contracts';
import { APP_CONFIG, DomainError, JsonLogger, REDIS, type AppConfig } from '#common';
import { ImportExportService } from './import-export.service';

/** Tools from the watched directory belong to the platform itself: only admins change them. */
export const CONFIG_ACTOR: Actor = { user_id: '00000000-0000-0000-0000-000000000000', role: 'admin', via: 'system' };
const STATUS_KEY = 'registry:config-status';
/** Per file, the servers its last successful import named (kept across invalid versions of the file). */
const SERVERS_KEY = 'registry:config-servers';

/** The servers a file's import report names (created, updated or skipped). */
function serversIn(report: ImportReport | undefined): Set<string> {
  return new Set(report ? [...report.created, ...report.updated, ...report.skipped].map((e) => e.name) : []);
}
const LOCK_KEY = 'registry:config-reload-lock';
const FILE_RE = /(^|\.)mcp\.json$/;

/**
 * Imports every `*.mcp.json` / `.mcp.json` of MCP_CONFIG_WATCH_PATH on start and again when a file
 * changes (debounced). Each file is imported all-or-nothing; an invalid file is reported in the
 * status and leaves the registry untouched. Reloads are serialised across registry instances with a
 * Redis lock, and the last result is kept in Redis so every instance reports the same status.
 */
@Injectable()
export class ConfigWatcherService implements OnApplicationBootstrap, OnApplicationShutdown {
  static readonly DEBOUNCE_MS = 300;
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ImportExportService) private readonly importer: ImportExportService,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(JsonLogger) private readonly logger: JsonLogger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const dir = this.config.configWatch?.path;
    if (!dir) return;
    await this.reload('startup');
    this.watcher = watch(dir, (_event, file) => {
      if (file && !FILE_RE.test(String(file))) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.reload('watch').catch((err: unknown) => this.logger.error({ msg: 'config reload failed', err: String(err) }, 'ConfigWatcher'));
      }, ConfigWatcherService.DEBOUNCE_MS);
    });
    this.logger.log({ msg: 'watching MCP config directory', path: dir }, 'ConfigWatcher');
  }

  onApplicationShutdown(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
  }

  async status(): Promise<ConfigStatus> {
    const stored = await this.redis.get(STATUS_KEY);
    if (stored) return JSON.parse(stored) as ConfigStatus;
    return {
      enabled: !!this.config.configWatch,
      path: this.config.configWatch?.path ?? null,
      last_reload_at: null,
      trigger: null,
      files: [],
    };
  }

  async reload(trigger: ConfigStatus['trigger'] & string): Promise<ConfigStatus> {
    const dir = this.config.configWatch?.path;
    if (!dir)
      throw new DomainError(ErrorCode.UNPROCESSABLE, 'No watched config directory: set MCP_CONFIG_WATCH_PATH on the registry service');
    const token = `${process.pid}-${Date.now()}`;
    // Another instance reloading right now will see the same files: wait for it rather than race it.
    for (let i = 0; (await this.redis.set(LOCK_KEY, token, 'PX', 30_000, 'NX')) !== 'OK'; i++) {
      if (i > 100) throw new DomainError(ErrorCode.SERVICE_UNAVAILABLE, 'Another config reload is still running; try again');
      await new Promise((r) => setTimeout(r, 100));
    }
    try {
      const names = (await readdir(dir)).filter((f) => FILE_RE.test(f)).sort();
      // Per file, the servers its last successful import named: read once, written once.
      const remembered = await this.redis.hgetall(SERVERS_KEY);
      const seen: Record<string, string> = {};
      const files: ConfigStatus['files'] = [];
      for (const file of names) {
        const result = await this.importFile(join(dir, file), file);
        if (result.report) {
          // An import never deletes: a server taken out of the file stays a tool, and the report says so.
          const now = serversIn(result.report);
          for (const name of (JSON.parse(remembered[file] ?? '[]') as string[]).filter((n) => !now.has(n)))
            result.report.notes.push(`${name}: no longer in this file; the tool stays in the registry (delete it there if it should go)`);
          seen[file] = JSON.stringify([...now]);
        }
        files.push(result);
      }
      if (Object.keys(seen).length) await this.redis.hset(SERVERS_KEY, seen);
      // A file gone from the directory: its tools stay too, and every reload says so until it is back.
      for (const [file, servers] of Object.entries(remembered)) {
        if (names.includes(file)) continue;
        const notes = (JSON.parse(servers) as string[]).map(
          (name) => `${name}: its file is gone; the tool stays in the registry (delete it there if it should go)`,
        );
        files.push({
          file,
          status: 'removed',
          report: { dry_run: false, format: 'mcp-servers', created: [], updated: [], skipped: [], notes },
        });
      }
      const status: ConfigStatus = { enabled: true, path: dir, last_reload_at: new Date().toISOString(), trigger, files };
      await this.redis.set(STATUS_KEY, JSON.stringify(status));
      const invalid = files.filter((f) => f.status === 'invalid');
      if (invalid.length)
        this.logger.warn(
          { msg: 'invalid MCP config files left the registry untouched', files: invalid.map((f) => `${f.file}: ${f.error}`) },
          'ConfigWatcher',
        );
      return status;
    } finally {
      if ((await this.redis.get(LOCK_KEY)) === token) await this.redis.del(LOCK_KEY);
    }
  }

  private async importFile(path: string, file: string): Promise<ConfigStatus['files'][number]> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      return { file, status: 'invalid', error: `cannot read: ${String(err)}` };
    }
    const parsed = parseConfigFile(text);
    if ('error' in parsed) return { file, status: 'invalid', error: parsed.error };
    const { document } = parsed;
    try {
      const report = await this.importer.import(
        {
          format: 'mcp-servers',
          document,
          dry_run: false,
          visibility: this.config.configWatch!.visibility,
        },
        CONFIG_ACTOR,
      );
      const changed = report.created.length + report.updated.length > 0;
      // Nobody previews a watched file's import: what the diff flags (another package or host, a
      // new secret) is logged for whoever watches the logs, besides the status.
      for (const u of report.updated.filter((x) => x.warnings.length))
        this.logger.warn(
          {
            msg: 'a watched config file changed a tool in a way the diff flags',
            file,
            tool: u.name,
            version: u.version,
            warnings: u.warnings,
          },
          'ConfigWatcher',
        );
      return { file, status: changed ? 'imported' : 'unchanged', report };
    } catch (err) {
      return { file, status: 'invalid', error: err instanceof DomainError ? err.message : String(err) };
    }
  }
}
