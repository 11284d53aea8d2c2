import { Inject, Injectable } from '@nestjs/common';
import semver from 'semver';
import { DataSource, type EntityManager } from 'typeorm';
import { ErrorCode, type Actor, type ExportPage, type ImportFormat, type ImportReport, type ImportRequest } from '#contracts';
import { canRead, canWrite, DomainError, illFormedStringError } from '#common';
import { IdempotencyService, type IdempotentRequest } from '../idempotency/idempotency.service';
import { Tool } from '../tools/tool.entity';
import { onlyVisibleTo, toolView, ToolsService } from '../tools/tools.service';
import { contentHash } from '../versions/canonical-json';
import { validateManifest } from '../versions/manifest-validation';
import { diffVersions } from '../versions/version-diff';
import { ToolVersion } from '../versions/tool-version.entity';
import {
  detectFormat,
  parseMcpServers,
  parseServerJson,
  toMcpServerEntry,
  toServerJson,
  type ImportEntry,
  type ParsedImport,
} from './formats';

/** server.json `_meta` key flagging an exported version as yanked. */
const YANKED_META = 'io.mcp-platform/yanked';

/** Thrown inside the transaction of a dry run so that everything it did is rolled back. */
class DryRunRollback extends Error {
  constructor(readonly report: ImportReport) {
    super('dry run');
  }
}

/**
 * Import and export in the formats MCP users already have. An import is validated completely and
 * applied in one transaction: every entry or none. A dry run goes through exactly the same code
 * and rolls the transaction back, so its report is what a real run would do.
 */
@Injectable()
export class ImportExportService {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(ToolsService) private readonly tools: ToolsService,
    @Inject(IdempotencyService) private readonly idempotency: IdempotencyService,
  ) {}

  /**
   * With an Idempotency-Key, a repeat of an import that succeeded gets its report again and
   * changes nothing (a dry run changes nothing anyway: its key is not kept).
   */
  async import(req: ImportRequest, actor: Actor, idempotencyKey?: string): Promise<ImportReport> {
    // Watched files come here without the RPC payload check: the same refusal for them.
    const illFormed = illFormedStringError(req.document, 'document');
    if (illFormed) throw illFormed;
    const format = req.format ?? detectFormat(req.document);
    if (!format) {
      throw new DomainError(
        ErrorCode.VALIDATION_FAILED,
        'Invalid body.document: not an mcpServers JSON (needs "mcpServers", or VS Code\'s "servers" object) nor a server.json (needs "name" and "packages" or "remotes", or a "servers" list of them)',
        [{ field: 'document', message: 'unknown format' }],
      );
    }
    const parsed = format === 'mcp-servers' ? parseMcpServers(req.document) : parseServerJson(req.document);
    const seen = new Set<string>();
    for (const e of parsed.entries) {
      if (seen.has(e.name.toLowerCase())) parsed.errors.push({ field: `document`, message: `server '${e.name}' appears twice` });
      seen.add(e.name.toLowerCase());
    }
    if (parsed.errors.length) {
      const first = parsed.errors[0];
      const more = parsed.errors.length > 1 ? ` (and ${parsed.errors.length - 1} more problem(s))` : '';
      throw new DomainError(
        ErrorCode.VALIDATION_FAILED,
        `Invalid ${first.field}: ${first.message}${more}; nothing was imported`,
        parsed.errors,
      );
    }
    for (const e of parsed.entries) if (e.manifest) validateManifest(e.manifest);

    if (req.dry_run) return this.apply(req, format, parsed, actor);
    if (idempotencyKey === undefined) {
      // Its report is kept under the request's id: delivered again after a crash between its
      // COMMIT and its answer, it gets that report, not one that finds every tool unchanged.
      const own = this.idempotency.ownRequest(actor, 'tools.import', req);
      const made = own && (await this.idempotency.answerToRedelivery<ImportReport>(own));
      return made ?? this.apply(req, format, parsed, actor, own && { req: own, own: true });
    }
    const keyed = this.idempotency.request(actor, idempotencyKey, 'tools.import', req);
    return this.idempotency.once(keyed, () => this.apply(req, format, parsed, actor, { req: keyed, own: false }));
  }

  /**
   * Applies the entries in one transaction (rolled back for a dry run), recording the report under
   * the key if there is one (`own`: the request's own id, IdempotencyService.ownRequest).
   */
  private async apply(
    req: ImportRequest,
    format: ImportFormat,
    parsed: ParsedImport,
    actor: Actor,
    record?: { req: IdempotentRequest; own: boolean },
  ): Promise<ImportReport> {
    try {
      return await this.tools.write(async (m) => {
        const report: ImportReport = { dry_run: req.dry_run, format, created: [], updated: [], skipped: [], notes: parsed.notes };
        const problems: { field: string; message: string }[] = [];
        for (const entry of parsed.entries) await this.applyEntry(m, entry, req, actor, report, problems);
        if (problems.length) {
          throw new DomainError(
            ErrorCode.CONFLICT,
            `${problems[0].message}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}; nothing was imported`,
            problems,
          );
        }
        if (req.dry_run) throw new DryRunRollback(report);
        if (record?.own) await this.idempotency.saveOwn(m, record.req, report);
        else if (record) await this.idempotency.save(m, record.req, report);
        return report;
      });
    } catch (err) {
      if (err instanceof DryRunRollback) return { ...err.report, created: err.report.created.map((c) => ({ ...c, tool_id: null })) };
      throw err;
    }
  }

  private async applyEntry(
    m: EntityManager,
    entry: ImportEntry,
    req: ImportRequest,
    actor: Actor,
    report: ImportReport,
    problems: { field: string; message: string }[],
  ): Promise<void> {
    const field = `document.${entry.name}`;
    // The name column's collation is case-insensitive, like the unique index.
    const existing = await m.getRepository(Tool).findOne({ where: { name: entry.name }, lock: { mode: 'pessimistic_write' } });
    if (!existing) {
      const tool = await this.tools.createIn(
        m,
        {
          name: entry.name,
          ...(entry.display_name !== undefined ? { display_name: entry.display_name } : {}),
          description: entry.description ?? '',
          tags: [],
          visibility: req.visibility,
          repository_url: entry.repository_url,
          homepage_url: entry.homepage_url,
        },
        actor,
      );
      const version = entry.version ?? '1.0.0';
      await this.tools.publishIn(
        m,
        tool,
        { version, changelog: `Imported from ${report.format}`, config: entry.config, manifest: entry.manifest },
        actor,
      );
      report.created.push({ name: tool.name, version, tool_id: tool.id });
      return;
    }
    if (existing.deletedAt) {
      problems.push({ field, message: `tool '${existing.name}' is deleted; an admin must restore it before importing into it` });
      return;
    }
    if (!canRead(existing, actor) || !canWrite(existing, actor)) {
      problems.push({ field, message: `a tool named '${existing.name}' already exists and belongs to someone else` });
      return;
    }
    const versions = await m.getRepository(ToolVersion).find({ where: { toolId: existing.id } });
    const highest = existing.highestVersion;
    const hash = contentHash(entry.config, entry.manifest);
    const latest = versions.find((v) => v.version === existing.latestVersion);
    if (entry.version) {
      const same = versions.find((v) => v.version === entry.version);
      if (same) {
        if (same.sha256 === hash)
          report.skipped.push({ name: existing.name, reason: `version ${same.version} is already published with the same content` });
        else problems.push({ field, message: `version ${same.version} of '${existing.name}' is already published with different content` });
        return;
      }
      if (highest && !semver.gt(entry.version, highest)) {
        problems.push({ field, message: `version ${entry.version} of '${existing.name}' is lower than the published ${highest}` });
        return;
      }
    } else {
      if (latest?.sha256 === hash) {
        report.skipped.push({ name: existing.name, reason: `unchanged (same content as version ${latest.version})` });
        return;
      }
    }
    const version = entry.version ?? (highest ? semver.inc(highest, 'patch')! : '1.0.0');
    // What the diff would flag against the latest version (another package or host, a new secret):
    // an import changes a tool as a publish does, and a dry run is where to see it first.
    const { warnings } = latest
      ? diffVersions(latest.version, version, latest, { config: entry.config, manifest: entry.manifest ?? null })
      : { warnings: [] };
    await this.tools.publishIn(
      m,
      existing,
      { version, changelog: `Imported from ${report.format}`, config: entry.config, manifest: entry.manifest },
      actor,
    );
    report.updated.push({ name: existing.name, version, tool_id: existing.id, warnings });
  }

  /** One tool's latest version as a document of the format (404 when it has none the actor can see). */
  async export(
    format: 'mcp-servers' | 'server-json',
    toolId: string,
    actor: Actor,
    { version, namespace }: { version?: string; namespace?: string } = {},
  ): Promise<Record<string, unknown>> {
    const item =
      version === undefined
        ? (await this.latestOf(format, actor, { toolId }, namespace))[0]
        : await this.versionOf(format, toolId, version, actor, namespace);
    if (!item) throw DomainError.notFound('Tool with a published version', toolId);
    return format === 'mcp-servers' ? { mcpServers: { [item.name]: item.document } } : item.document;
  }

  /**
   * A named version of a tool as the format's entry (a rollback's config, say), read as the
   * versions route reads it: 404s name the tool or the version. A yanked one is exported too —
   * it stays readable — and a server.json says so in its `_meta`; a deleted tool is not exported.
   */
  private async versionOf(format: 'mcp-servers' | 'server-json', toolId: string, version: string, actor: Actor, namespace?: string) {
    const { tool, version: v } = await this.tools.versionOf(toolId, version, actor);
    if (tool.deletedAt) return undefined;
    if (format === 'mcp-servers') return { name: tool.name, document: toMcpServerEntry(v.config) };
    const document = toServerJson(toolView(tool), v.version, v.config, namespace);
    if (v.yanked) document._meta = { ...(document._meta as object | undefined), [YANKED_META]: { reason: v.yank_reason } };
    return { name: tool.name, document };
  }

  /**
   * A page of the export of every tool the actor can see, in name order after `after` (a keyset
   * page: each one is a bounded query and reply, however many tools there are).
   */
  async exportPage(
    format: 'mcp-servers' | 'server-json',
    after: string | undefined,
    limit: number,
    actor: Actor,
    namespace?: string,
  ): Promise<ExportPage> {
    const items = await this.latestOf(format, actor, { after, limit }, namespace);
    return { items, next_after: items.length === limit ? items[items.length - 1].name : null };
  }

  /** Tools with a published version the actor can see, by name, each with its latest version as the format's entry. */
  private async latestOf(
    format: 'mcp-servers' | 'server-json',
    actor: Actor,
    which: { toolId: string } | { after: string | undefined; limit: number },
    namespace?: string,
  ): Promise<ExportPage['items']> {
    const qb = this.dataSource
      .getRepository(Tool)
      .createQueryBuilder('t')
      .where('t.deleted_at IS NULL')
      .andWhere('t.latest_version IS NOT NULL');
    onlyVisibleTo(qb, actor);
    if ('toolId' in which) qb.andWhere('t.id = :id', { id: which.toolId });
    else {
      // Names are unique under the column's collation, which orders and compares them alike.
      if (which.after !== undefined) qb.andWhere('t.name > :after', { after: which.after });
      qb.take(which.limit);
    }
    const tools = await qb.orderBy('t.name', 'ASC').getMany();
    if (!tools.length) return [];
    const latest = await this.dataSource
      .getRepository(ToolVersion)
      .createQueryBuilder('v')
      .where(
        '(v.tool_id, v.version) IN (' + tools.map((_, i) => `(:t${i}, :v${i})`).join(',') + ')',
        Object.fromEntries(
          tools.flatMap((t, i) => [
            [`t${i}`, t.id],
            [`v${i}`, t.latestVersion],
          ]),
        ),
      )
      .getMany();
    const byTool = new Map(latest.map((v) => [v.toolId, v]));
    return tools.map((t) => {
      const v = byTool.get(t.id)!;
      return {
        name: t.name,
        document: format === 'mcp-servers' ? toMcpServerEntry(v.config) : toServerJson(toolView(t), v.version, v.config, namespace),
      };
    });
  }
}
