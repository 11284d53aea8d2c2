import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import semver from 'semver';
import type { Redis } from 'ioredis';
import { DataSource, In, type EntityManager, type SelectQueryBuilder } from 'typeorm';
import {
  ErrorCode,
  EventKey,
  toolSchema,
  type Actor,
  type CreateToolInput,
  type ListToolsQuery,
  type PageQuery,
  type PublishVersionInput,
  type ToolView,
  type TransferTarget,
  type UpdateToolInput,
  type VersionDiff,
  type VersionView,
} from '#contracts';
import {
  canSee,
  canWrite,
  etagOf,
  preconditionHolds,
  coalesced,
  crashPoint,
  requestContext,
  DomainError,
  forbidden,
  GroupedLockedWriter,
  JsonLogger,
  transactionRetryingDeadlocks,
  StatementBatch,
  isAdmin,
  OutboxService,
  REDIS,
  bumpRegistryGeneration,
  defineRegistryBump,
  duplicateKeyIndex,
  APP_CONFIG,
  type AppConfig,
} from '#common';
import { contentHash } from '../versions/canonical-json';
import { validateManifest } from '../versions/manifest-validation';
import { ToolVersion } from '../versions/tool-version.entity';
import { diffVersions } from '../versions/version-diff';
import { IdempotencyRecord } from '../idempotency/idempotency-record.entity';
import { answeredAsMade, IdempotencyService, type IdempotentRequest } from '../idempotency/idempotency.service';
import { ToolHistory } from './tool-history.entity';
import { Tool } from './tool.entity';

export function toolView(t: Tool): ToolView {
  return {
    id: t.id,
    name: t.name,
    display_name: t.displayName,
    description: t.description,
    owner_id: t.ownerId,
    tags: t.tags,
    category: t.category,
    homepage_url: t.homepageUrl,
    repository_url: t.repositoryUrl,
    visibility: t.visibility,
    status: t.status,
    latest_version: t.latestVersion,
    pinned_version: t.pinnedVersion,
    created_at: t.createdAt.toISOString(),
    updated_at: t.updatedAt.toISOString(),
    deleted_at: t.deletedAt?.toISOString() ?? null,
  };
}

export function versionView(v: ToolVersion, latest: string | null): VersionView {
  return {
    tool_id: v.toolId,
    version: v.version,
    changelog: v.changelog,
    config: v.config,
    manifest: v.manifest,
    sha256: v.sha256,
    yanked: v.yanked,
    yank_reason: v.yankReason,
    is_latest: v.version === latest,
    published_by: v.publishedBy,
    published_at: v.publishedAt.toISOString(),
  };
}

const METADATA_FIELDS = {
  name: 'name',
  display_name: 'displayName',
  description: 'description',
  tags: 'tags',
  category: 'category',
  homepage_url: 'homepageUrl',
  repository_url: 'repositoryUrl',
  visibility: 'visibility',
  status: 'status',
} as const satisfies Record<keyof UpdateToolInput, keyof Tool>;

/** The SQL form of canRead (alias `t`): admins see everything, others public tools and their own. */
export function onlyVisibleTo(qb: SelectQueryBuilder<Tool>, actor: Actor): SelectQueryBuilder<Tool> {
  return isAdmin(actor) ? qb : qb.andWhere("(t.visibility = 'public' OR t.owner_id = :me)", { me: actor.user_id });
}

/**
 * A change made with If-Match goes ahead only if the tool is still as the caller read it (checked
 * against the locked row, so no change made since that read is lost).
 */
function checkPrecondition(name: string, view: ToolView, ifMatch: string | undefined): void {
  if (ifMatch === undefined) return;
  // The tag the gateway gives this tool: over the text of the view its response schema parses.
  const etag = etagOf(JSON.stringify(toolSchema.parse(view)));
  if (!preconditionHolds(ifMatch, etag))
    throw new DomainError(
      ErrorCode.PRECONDITION_FAILED,
      `Tool '${name}' has changed since the version your If-Match names; read it again and redo the change`,
      { etag },
    );
}

/** Names are unique (case-insensitively): creating or renaming to a taken one is a 409 on `name`. */
const nameTaken = (name: string) => new DomainError(ErrorCode.CONFLICT, `A tool named '${name}' already exists`, { field: 'name' });

const unprocessableOwner = (why: string) =>
  new DomainError(ErrorCode.UNPROCESSABLE, `Cannot transfer the tool: ${why}`, [{ field: 'owner', message: why }]);

/** Events of a change to a tool (`tool.created`, `tool.version.published`, …): the changes the read cache must not outlive. */
const isToolEvent = (key: EventKey) => key.startsWith('tool.');

/** The request a change is made for: its id (recorded in the change's history) and whether RabbitMQ delivered it before. */
interface ChangeOrigin {
  requestId?: string;
  redelivered: boolean;
}
const currentOrigin = (): ChangeOrigin => ({ requestId: requestContext.requestId(), redelivered: requestContext.redelivered() });

/** What every tool event starts with: the tool, and who may see it as of the change (see the event contracts). */
function eventTool(tool: Pick<Tool, 'id' | 'name' | 'ownerId' | 'visibility'>) {
  return { tool_id: tool.id, name: tool.name, owner_id: tool.ownerId, visibility: tool.visibility };
}

/** SQL: `lv` is the latest version of the listed tool `t` (one row by the unique (tool_id, version) index, or none). */
const LATEST_OF_T = 'lv.tool_id = t.id AND lv.version = t.latest_version';

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => '\\' + c);
}

/**
 * Tools and their versions. Every change runs in one transaction that also writes the history
 * entry and the outbox event, so a change, its history and its event are never separated.
 */
@Injectable()
export class ToolsService {
  /** Version publishes, the hot write path: those arriving together share a transaction. */
  private readonly publisher: GroupedLockedWriter<
    Tool,
    { id: string; input: PublishVersionInput; actor: Actor; idempotent?: IdempotentRequest; origin: ChangeOrigin },
    VersionView
  >;
  /** One bump (and its announcement to the gateways) for the writes finishing together. */
  private readonly bumpGeneration = coalesced(async () => void (await bumpRegistryGeneration(this.redis, this.config.namespace)));

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(OutboxService) private readonly outbox: OutboxService,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(IdempotencyService) private readonly idempotency: IdempotencyService,
    @Inject(JsonLogger) private readonly logger: JsonLogger,
  ) {
    defineRegistryBump(redis);
    // The second, durable invalidation of every change: before its tool.* event goes out, the
    // outbox relay bumps the generation once for the pass. A change whose own bump (afterWrite)
    // was lost — the process crashed between commit and bump, or Redis failed it — is invalidated
    // then, and its event waits until that succeeded. (Earlier the gateway bumped on consuming the
    // events: one more queue, delivery and acknowledgement per event, and after three failed
    // attempts the invalidation was dead-lettered.)
    outbox.beforePublish(async (keys) => {
      if (!keys.some(isToolEvent)) return;
      try {
        await this.bumpGeneration();
      } catch (err) {
        throw new Error(`cannot bump the registry cache generation before publishing tool events: ${String(err)}`, { cause: err });
      }
    });
    this.publisher = new GroupedLockedWriter(
      this.dataSource,
      Tool,
      async (tool, { id, input, actor, idempotent, origin }, batch, m) => {
        const writable = this.checkWritable(tool, id, actor, 'publish versions');
        const view = await this.publishIn(m, writable, input, actor, batch, origin);
        // A redelivered publish that had committed: nothing to write, and its answer as it was.
        if ('redelivered' in view) {
          const { redelivered: _, ...made } = view;
          return made;
        }
        // A publish with an Idempotency-Key records its answer with its other statements.
        if (idempotent) batch.insert(IdempotencyRecord, this.idempotency.record(idempotent, view));
        return view;
      },
      64,
      this.logger,
    );
  }

  /** With an Idempotency-Key, a repeat of a create that succeeded is answered with the tool it created. */
  async create(input: CreateToolInput, actor: Actor, idempotencyKey?: string): Promise<ToolView> {
    if (idempotencyKey === undefined) {
      try {
        return toolView(await this.write((m) => this.createIn(m, input, actor)));
      } catch (err) {
        // Delivered again after the registry died between this create's COMMIT and its answer:
        // the name is taken by the tool this same request created.
        const origin = currentOrigin();
        if (origin.redelivered && err instanceof DomainError && err.code === ErrorCode.CONFLICT) {
          const taken = await this.dataSource.getRepository(Tool).findOne({ where: { name: input.name }, withDeleted: true });
          if (taken && (await this.madeBy(this.dataSource.manager, origin, 'tool.create', taken.id, 'tool.created', actor))) {
            return toolView(taken);
          }
        }
        throw err;
      }
    }
    const req = this.idempotency.request(actor, idempotencyKey, 'tool.create', input);
    return this.idempotency.once(req, () =>
      this.write(async (m) => {
        const view = toolView(await this.createIn(m, input, actor));
        await this.idempotency.save(m, req, view);
        return view;
      }),
    );
  }

  /** Creates a tool inside the caller's transaction (a taken name is a 409). */
  async createIn(m: EntityManager, input: CreateToolInput, actor: Actor): Promise<Tool> {
    const now = new Date();
    const tool: Tool = {
      id: randomUUID(),
      name: input.name,
      displayName: input.display_name ?? null,
      description: input.description,
      ownerId: actor.user_id,
      tags: [...new Set(input.tags)],
      category: input.category ?? null,
      homepageUrl: input.homepage_url ?? null,
      repositoryUrl: input.repository_url ?? null,
      visibility: input.visibility,
      status: 'active',
      pinnedVersion: null,
      latestVersion: null,
      highestVersion: null,
      createdAt: now,
      updatedAt: now,
      deletedAt: null,
    };
    try {
      await m.insert(Tool, tool);
    } catch (err) {
      if (duplicateKeyIndex(err) !== undefined) {
        throw nameTaken(input.name);
      }
      throw err;
    }
    await this.history(m, tool.id, 'tool.created', actor, { after: toolView(tool) });
    await this.outbox.add(m, EventKey.TOOL_CREATED, eventTool(tool));
    return tool;
  }

  async list(q: ListToolsQuery, actor: Actor) {
    const qb = this.dataSource.getRepository(Tool).createQueryBuilder('t');
    if (!(q.include_deleted && isAdmin(actor))) qb.andWhere('t.deleted_at IS NULL');
    onlyVisibleTo(qb, actor);
    if (q.owner) qb.andWhere('t.owner_id = :owner', { owner: q.owner === 'me' ? actor.user_id : q.owner });
    if (q.status) qb.andWhere('t.status = :status', { status: q.status });
    if (q.name) qb.andWhere('t.name = :name', { name: q.name });
    if (q.category) qb.andWhere('t.category = :category', { category: q.category });
    if (q.visibility) qb.andWhere('t.visibility = :visibility', { visibility: q.visibility });
    if (q.tag) qb.andWhere('JSON_CONTAINS(t.tags, JSON_QUOTE(:tag))', { tag: q.tag });
    if (q.provides) {
      qb.andWhere(
        `EXISTS (SELECT 1 FROM tool_versions lv WHERE ${LATEST_OF_T} AND JSON_CONTAINS(JSON_EXTRACT(lv.manifest, '$.tools[*].name'), JSON_QUOTE(:provides)))`,
        { provides: q.provides },
      );
    }
    if (q.q) {
      // Also what the tool's server offers: the names, titles and descriptions of the tools in its
      // latest version's manifest. Both sides lower-cased: MySQL compares JSON strings by their
      // binary collation (case-sensitive), MariaDB not, and the columns' LIKE ignores case.
      qb.andWhere(
        `(t.name LIKE :q OR t.display_name LIKE :q OR t.description LIKE :q OR EXISTS (SELECT 1 FROM tool_versions lv WHERE ${LATEST_OF_T} AND ` +
          `JSON_SEARCH(LOWER(lv.manifest), 'one', LOWER(:q), NULL, '$.tools[*].name', '$.tools[*].title', '$.tools[*].description') IS NOT NULL))`,
        { q: `%${escapeLike(q.q)}%` },
      );
    }
    const desc = q.sort.startsWith('-');
    const column = { name: 't.name', created: 't.created_at', updated: 't.updated_at' }[
      q.sort.replace('-', '') as 'name' | 'created' | 'updated'
    ];
    qb.orderBy(column, desc ? 'DESC' : 'ASC').addOrderBy('t.id', 'ASC');
    const [rows, total] = await qb
      .skip((q.page - 1) * q.page_size)
      .take(q.page_size)
      .getManyAndCount();
    return { items: rows.map(toolView), total, page: q.page, page_size: q.page_size };
  }

  async get(id: string, actor: Actor): Promise<ToolView> {
    return toolView(await this.visible(this.dataSource.manager, id, actor));
  }

  /** `ifMatch`: the caller's If-Match (checkPrecondition). */
  async update(id: string, changes: UpdateToolInput, actor: Actor, ifMatch?: string): Promise<ToolView> {
    return this.writeOnce(id, actor, 'tool.update', this.answerFromTool(id), async (m) => {
      const tool = await this.writable(m, id, actor, 'change it');
      const before = toolView(tool);
      checkPrecondition(tool.name, before, ifMatch);
      const diff: Record<string, { from: unknown; to: unknown }> = {};
      for (const [field, prop] of Object.entries(METADATA_FIELDS) as [keyof UpdateToolInput, keyof Tool][]) {
        const value = changes[field];
        if (value === undefined) continue;
        const next = field === 'tags' ? [...new Set(value as string[])] : value;
        if (JSON.stringify(before[field]) !== JSON.stringify(next)) {
          diff[field] = { from: before[field], to: next };
          (tool as unknown as Record<string, unknown>)[prop] = next;
        }
      }
      if (!Object.keys(diff).length) return toolView(tool);
      tool.updatedAt = new Date();
      try {
        await m.save(Tool, tool);
      } catch (err) {
        if (diff.name && duplicateKeyIndex(err) !== undefined) throw nameTaken(tool.name);
        throw err;
      }
      await this.history(
        m,
        id,
        tool.status !== before.status && tool.status === 'deprecated' ? 'tool.deprecated' : 'tool.updated',
        actor,
        diff,
      );
      await this.outbox.add(m, EventKey.TOOL_UPDATED, {
        ...eventTool(tool),
        fields: Object.keys(diff),
        ...(diff.visibility ? { previous: { owner_id: before.owner_id, visibility: before.visibility } } : {}),
      });
      return toolView(tool);
    });
  }

  /**
   * Hands the tool to another user, who must be able to maintain it (a maintainer or admin, not
   * disabled): a tool whose owner may not change it could then only be kept up by admins. The
   * previous owner keeps no rights of their own (a private tool disappears from their lists).
   */
  async transfer(id: string, owner: string, target: TransferTarget | null, actor: Actor, ifMatch?: string): Promise<ToolView> {
    return this.writeOnce(id, actor, 'tool.transfer', this.answerFromTool(id), async (m) => {
      const tool = await this.writable(m, id, actor, 'transfer it');
      const before = toolView(tool);
      checkPrecondition(tool.name, before, ifMatch);
      if (!target) throw unprocessableOwner(`there is no user '${owner}'`);
      if (target.disabled) throw unprocessableOwner(`user '${target.username}' is disabled`);
      if (target.role === 'viewer')
        throw unprocessableOwner(`user '${target.username}' is a viewer: only a maintainer or an admin can own a tool`);
      // Already theirs: nothing changes and nothing is recorded.
      if (tool.ownerId === target.user_id) return before;
      tool.ownerId = target.user_id;
      tool.updatedAt = new Date();
      await m.update(Tool, { id }, { ownerId: tool.ownerId, updatedAt: tool.updatedAt });
      await this.history(m, id, 'tool.transferred', actor, { owner_id: { from: before.owner_id, to: tool.ownerId } });
      await this.outbox.add(m, EventKey.TOOL_UPDATED, {
        ...eventTool(tool),
        fields: ['owner_id'],
        previous: { owner_id: before.owner_id, visibility: before.visibility },
      });
      return toolView(tool);
    });
  }

  async remove(id: string, actor: Actor): Promise<ToolView> {
    return this.writeOnce(id, actor, 'tool.delete', this.answerFromTool(id), async (m) => {
      const tool = await this.writable(m, id, actor, 'delete it');
      tool.deletedAt = new Date();
      tool.updatedAt = tool.deletedAt;
      await m.save(Tool, tool);
      await this.history(m, id, 'tool.deleted', actor, null);
      await this.outbox.add(m, EventKey.TOOL_DELETED, eventTool(tool));
      return toolView(tool);
    });
  }

  async restore(id: string, actor: Actor): Promise<ToolView> {
    if (!isAdmin(actor)) throw new DomainError(ErrorCode.FORBIDDEN, 'Only an admin may restore a deleted tool');
    return this.writeOnce(id, actor, 'tool.restore', this.answerFromTool(id), async (m) => {
      const tool = await m.getRepository(Tool).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!tool) throw DomainError.notFound('Tool', id);
      if (!tool.deletedAt) throw new DomainError(ErrorCode.CONFLICT, `Tool '${tool.name}' is not deleted`);
      tool.deletedAt = null;
      tool.updatedAt = new Date();
      await m.save(Tool, tool);
      await this.history(m, id, 'tool.restored', actor, null);
      await this.outbox.add(m, EventKey.TOOL_RESTORED, eventTool(tool));
      return toolView(tool);
    });
  }

  /** A page of the tool's changes, oldest first. */
  async historyOf(id: string, { page, page_size }: PageQuery, actor: Actor) {
    await this.visible(this.dataSource.manager, id, actor);
    const [rows, total] = await this.dataSource.getRepository(ToolHistory).findAndCount({
      where: { toolId: id },
      order: { at: 'ASC', id: 'ASC' },
      skip: (page - 1) * page_size,
      take: page_size,
    });
    return {
      items: rows.map((h) => ({
        id: h.id,
        action: h.action,
        actor_id: h.actorId,
        at: h.at.toISOString(),
        diff: h.diff,
        request_id: h.requestId,
      })),
      total,
      page,
      page_size,
    };
  }

  /** Publishes a new immutable version; its semver must be valid and higher than every earlier one. */
  async publish(id: string, input: PublishVersionInput, actor: Actor, idempotencyKey?: string): Promise<VersionView> {
    const version = semver.valid(input.version);
    if (!version || version !== input.version) {
      throw new DomainError(
        ErrorCode.VALIDATION_FAILED,
        `Invalid body.version: '${input.version}' is not a semantic version (e.g. 1.2.3)`,
        [{ field: 'version', message: 'must be a semantic version' }],
      );
    }
    if (input.manifest) validateManifest(input.manifest);
    // Lock + read, then every write and COMMIT: two round trips, shared with the publishes that
    // arrive in the same turn.
    const submit = async (idempotent?: IdempotentRequest) => {
      const view = await this.publisher.submit(id, { id, input: { ...input, version }, actor, idempotent, origin: currentOrigin() });
      crashPoint('registry.version.committed');
      await this.afterWrite();
      return view;
    };
    if (idempotencyKey === undefined) return submit();
    const req = this.idempotency.request(actor, idempotencyKey, 'version.publish', { tool_id: id, input });
    return this.idempotency.once(req, () => submit(req));
  }

  /**
   * Publishes a version of a tool already locked in the caller's transaction. With `into`, the
   * writes are queued in the caller's batch (sent with its COMMIT); otherwise they are sent now.
   */
  async publishIn(
    m: EntityManager,
    tool: Tool,
    input: PublishVersionInput,
    actor: Actor,
    into?: StatementBatch,
    origin = currentOrigin(),
  ): Promise<VersionView | (VersionView & { redelivered: true })> {
    const id = tool.id;
    const version = input.version;
    const highest = tool.highestVersion;
    if (highest && !semver.gt(version, highest)) {
      // A client retrying a publish whose answer it lost (a timeout) learns whether it landed.
      const existing = await m.getRepository(ToolVersion).findOne({ where: { toolId: id, version } });
      if (existing) {
        const same = existing.sha256 === contentHash(input.config, input.manifest);
        if (same && (await this.madeBy(m, origin, 'version.publish', id, 'version.published', actor, version))) {
          return { ...versionView(existing, tool.latestVersion), redelivered: true };
        }
        throw new DomainError(
          ErrorCode.CONFLICT,
          same
            ? `Version ${version} of tool '${tool.name}' is already published, with this same content`
            : `Version ${version} of tool '${tool.name}' is already published with other content; versions are immutable: publish one higher than ${highest}`,
          { field: 'version', highest, published_sha256: existing.sha256, same_content: same },
        );
      }
      throw new DomainError(ErrorCode.CONFLICT, `Version ${version} must be higher than the highest published version ${highest}`, {
        field: 'version',
        highest,
      });
    }
    const row: ToolVersion = {
      id: randomUUID(),
      toolId: id,
      version,
      changelog: input.changelog,
      config: input.config,
      manifest: input.manifest ?? null,
      sha256: contentHash(input.config, input.manifest),
      yanked: false,
      yankReason: null,
      publishedBy: actor.user_id,
      publishedAt: new Date(),
    };
    // The version, the tool's new latest/highest, history and the event: one round trip.
    const batch = (into ?? new StatementBatch(m)).insert(ToolVersion, row);
    // The new version is the highest and not yanked: it is latest unless latest is pinned.
    const latest = tool.pinnedVersion ?? version;
    this.touchIn(batch, tool, { latestVersion: latest, highestVersion: version });
    this.historyIn(batch, id, 'version.published', actor, { version, sha256: row.sha256 }, origin);
    this.outbox.addTo(batch, EventKey.TOOL_VERSION_PUBLISHED, { ...eventTool(tool), version, sha256: row.sha256 });
    if (!into) await batch.flush();
    return versionView(row, latest);
  }

  /**
   * A page of the tool's versions, highest first. Semver order is not SQL's, so the version
   * strings are sorted here and only the page's rows (configs and manifests) are read: a tool
   * with thousands of versions is never loaded, nor sent, whole.
   */
  async versions(id: string, { page, page_size }: PageQuery, actor: Actor) {
    const tool = await this.visible(this.dataSource.manager, id, actor);
    const repo = this.dataSource.getRepository(ToolVersion);
    const all = await repo.find({ where: { toolId: id }, select: { id: true, version: true } });
    all.sort((a, b) => semver.rcompare(a.version, b.version));
    const wanted = all.slice((page - 1) * page_size, page * page_size);
    const rows = wanted.length ? await repo.findBy({ id: In(wanted.map((v) => v.id)) }) : [];
    const byId = new Map(rows.map((r) => [r.id, r]));
    return {
      items: wanted.flatMap((v) => {
        const row = byId.get(v.id);
        return row ? [versionView(row, tool.latestVersion)] : [];
      }),
      total: all.length,
      page,
      page_size,
    };
  }

  /** One version; `latest` resolves to the current latest version. */
  async version(id: string, version: string, actor: Actor): Promise<VersionView> {
    return (await this.versionOf(id, version, actor)).version;
  }

  /** One version and the tool's row it belongs to (an export needs both), from one lookup of each. */
  async versionOf(id: string, version: string, actor: Actor): Promise<{ tool: Tool; version: VersionView }> {
    const tool = await this.visible(this.dataSource.manager, id, actor);
    return { tool, version: versionView(await this.findVersion(this.dataSource.manager, tool, version), tool.latestVersion) };
  }

  async diff(id: string, from: string, to: string, actor: Actor): Promise<VersionDiff> {
    const tool = await this.visible(this.dataSource.manager, id, actor);
    const [a, b] = await Promise.all([
      this.findVersion(this.dataSource.manager, tool, from),
      this.findVersion(this.dataSource.manager, tool, to),
    ]);
    const diff = diffVersions(a.version, b.version, a, b);
    // Yanked versions are flagged wherever they are shown.
    for (const v of [a, b]) if (v.yanked) diff.warnings.push(`version ${v.version} is yanked: ${v.yankReason ?? 'no reason given'}`);
    return diff;
  }

  /** Yanks a version: still readable and flagged, never chosen as latest. */
  async yank(id: string, version: string, reason: string, actor: Actor): Promise<VersionView> {
    return this.setYank(id, version, reason, actor);
  }

  /**
   * Takes a yank back (a version yanked by mistake, or whose problem turned out not to be one):
   * the version may be chosen as latest again, and is if it is the highest and latest is not pinned.
   */
  async unyank(id: string, version: string, actor: Actor): Promise<VersionView> {
    return this.setYank(id, version, null, actor);
  }

  /** Yanks a version (with its `reason`) or takes its yank back (null), and moves latest accordingly. */
  private async setYank(id: string, version: string, reason: string | null, actor: Actor): Promise<VersionView> {
    const yanking = reason !== null;
    // The version its history entry names (`latest` may have moved since).
    const asMade = async (m: EntityManager, made: ToolHistory) => {
      const tool = await this.toolAsMade(m, id);
      return versionView(await this.findVersion(m, tool, (made.diff as { version: string }).version), tool.latestVersion);
    };
    return this.writeOnce(id, actor, yanking ? 'version.yank' : 'version.unyank', asMade, async (m) => {
      const tool = await this.writable(m, id, actor, yanking ? 'yank versions' : 'take back yanks');
      const row = await this.findVersion(m, tool, version);
      if (row.yanked === yanking)
        throw new DomainError(
          ErrorCode.CONFLICT,
          yanking ? `Version ${row.version} is already yanked` : `Version ${row.version} of tool '${tool.name}' is not yanked`,
        );
      const earlierReason = row.yankReason;
      row.yanked = yanking;
      row.yankReason = reason;
      await m.update(ToolVersion, { id: row.id }, { yanked: yanking, yankReason: reason });
      // A pin on a yanked version is dropped: latest must never be a yanked version.
      const before = { pinned: tool.pinnedVersion, latest: tool.latestVersion };
      const pinned = yanking && before.pinned === row.version ? null : before.pinned;
      const all = await m.getRepository(ToolVersion).find({ where: { toolId: id }, select: { version: true, yanked: true } });
      const latest = this.resolveLatest(pinned, all);
      await this.touch(m, tool, { pinnedVersion: pinned, latestVersion: latest });
      await this.history(m, id, yanking ? 'version.yanked' : 'version.unyanked', actor, {
        version: row.version,
        // Taken back: the reason it had been yanked for.
        reason: reason ?? earlierReason,
        ...(pinned !== before.pinned ? { unpinned: true } : {}),
        ...(latest !== before.latest ? { latest: { from: before.latest, to: latest } } : {}),
      });
      if (reason !== null) await this.outbox.add(m, EventKey.TOOL_VERSION_YANKED, { ...eventTool(tool), version: row.version, reason });
      else await this.outbox.add(m, EventKey.TOOL_VERSION_UNYANKED, { ...eventTool(tool), version: row.version });
      // Whoever follows `latest` (a deployer) hears of it however it changed.
      if (latest !== before.latest)
        await this.outbox.add(m, EventKey.TOOL_LATEST_CHANGED, { ...eventTool(tool), latest, pinned: pinned !== null });
      return versionView(row, latest);
    });
  }

  /** Pins `latest` to a version (rollback) or, with `version` null, returns to the highest version. */
  async pin(id: string, version: string | null, actor: Actor): Promise<ToolView> {
    return this.writeOnce(id, actor, version ? 'latest.pin' : 'latest.unpin', this.answerFromTool(id), async (m) => {
      const tool = await this.writable(m, id, actor, version ? 'pin its latest version' : 'unpin its latest version');
      let pinned: string | null = null;
      if (version) {
        const row = await this.findVersion(m, tool, version);
        if (row.yanked) throw new DomainError(ErrorCode.CONFLICT, `Version ${row.version} is yanked and cannot be latest`);
        pinned = row.version;
      }
      const all = await m.getRepository(ToolVersion).find({ where: { toolId: id }, select: { version: true, yanked: true } });
      const latest = this.resolveLatest(pinned, all);
      const before = { pinned: tool.pinnedVersion, latest: tool.latestVersion };
      // Pinning the version already pinned, or unpinning what is not pinned, changes nothing and records nothing.
      if (before.pinned === pinned && before.latest === latest) return toolView(tool);
      await this.touch(m, tool, { pinnedVersion: pinned, latestVersion: latest });
      await this.history(m, id, pinned ? 'latest.pinned' : 'latest.unpinned', actor, { from: before, to: { pinned, latest } });
      await this.outbox.add(m, EventKey.TOOL_LATEST_CHANGED, { ...eventTool(tool), latest, pinned: pinned !== null });
      return toolView(tool);
    });
  }

  private resolveLatest(pinned: string | null, versions: Pick<ToolVersion, 'version' | 'yanked'>[]): string | null {
    if (pinned) return pinned;
    return (
      versions
        .filter((v) => !v.yanked)
        .map((v) => v.version)
        .sort(semver.rcompare)[0] ?? null
    );
  }

  private async touch(
    m: EntityManager,
    tool: Tool,
    changes: Partial<Pick<Tool, 'pinnedVersion' | 'latestVersion' | 'highestVersion'>>,
  ): Promise<void> {
    await this.touchIn(new StatementBatch(m), tool, changes).flush();
  }

  private touchIn(batch: StatementBatch, tool: Tool, changes: Partial<Pick<Tool, 'pinnedVersion' | 'latestVersion' | 'highestVersion'>>) {
    Object.assign(tool, changes, { updatedAt: new Date() });
    return batch.update(Tool, { id: tool.id }, { ...changes, updatedAt: tool.updatedAt });
  }

  private async findVersion(m: EntityManager, tool: Tool, version: string): Promise<ToolVersion> {
    const wanted = version === 'latest' ? tool.latestVersion : version;
    const row = wanted ? await m.getRepository(ToolVersion).findOneBy({ toolId: tool.id, version: wanted }) : null;
    if (!row)
      throw new DomainError(
        ErrorCode.NOT_FOUND,
        version === 'latest'
          ? `Tool '${tool.name}' has no latest version: none is published, or every one is yanked`
          : `Version '${version}' of tool '${tool.name}' was not found`,
      );
    return row;
  }

  /** The tool if the actor may see it (canSee: a soft-deleted one only admins); 404 otherwise. */
  private async visible(m: EntityManager, id: string, actor: Actor): Promise<Tool> {
    const tool = await m.getRepository(Tool).findOneBy({ id });
    if (!tool || !canSee(tool, actor)) throw DomainError.notFound('Tool', id);
    return tool;
  }

  /** The tool, locked for the transaction, if the actor may change it: 404 if invisible, 403 if read-only. */
  private async writable(m: EntityManager, id: string, actor: Actor, action: string): Promise<Tool> {
    const tool = await m.getRepository(Tool).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
    return this.checkWritable(tool, id, actor, action);
  }

  private checkWritable(tool: Tool | null, id: string, actor: Actor, action: string): Tool {
    if (!tool || !canSee(tool, actor)) throw DomainError.notFound('Tool', id);
    // Only an admin gets here with a deleted tool (canSee): it can be looked at, not changed.
    if (tool.deletedAt) throw new DomainError(ErrorCode.CONFLICT, `Tool '${tool.name}' is deleted: restore it before changing it`);
    if (!canWrite(tool, actor)) throw forbidden(action);
    return tool;
  }

  private async history(m: EntityManager, toolId: string, action: string, actor: Actor, diff: object | null): Promise<void> {
    await this.historyIn(new StatementBatch(m), toolId, action, actor, diff).flush();
  }

  /** `origin`: the request making the change; by default the one this code runs for (not so in a grouped write, which runs for several). */
  private historyIn(batch: StatementBatch, toolId: string, action: string, actor: Actor, diff: object | null, origin = currentOrigin()) {
    return batch.insert(ToolHistory, {
      id: randomUUID(),
      toolId,
      action,
      actorId: actor.user_id,
      at: new Date(),
      diff,
      requestId: origin.requestId ?? null,
    });
  }

  /**
   * The history entry of the change (`action`, or any; on `version`, for a publish) that the
   * request `origin`, delivered again by RabbitMQ, already made on this tool before its first
   * delivery went unanswered — the registry died between the COMMIT and the answer, or lost its
   * channel. Only then is a change found made its own, to be answered as done; a request delivered
   * once is a client's repeat, and gets the 409 (or a change made again). A change found is
   * counted and logged under `operation` (`tool.create`, `version.yank`, …).
   */
  private async madeBy(
    m: EntityManager,
    origin: ChangeOrigin,
    operation: string,
    toolId: string,
    action: string | undefined,
    actor: Actor,
    version?: string,
  ): Promise<ToolHistory | undefined> {
    if (!origin.redelivered || !origin.requestId) return undefined;
    const rows = await m.getRepository(ToolHistory).find({
      where: { toolId, ...(action ? { action } : {}), requestId: origin.requestId },
      select: { action: true, actorId: true, diff: true },
    });
    const made = rows.find(
      (h) => h.actorId === actor.user_id && (version === undefined || (h.diff as { version?: string } | null)?.version === version),
    );
    if (made) answeredAsMade(this.logger, operation, 'ToolsService', { action: made.action, tool_id: toolId });
    return made;
  }

  /**
   * `write`, for a change to the existing tool `id` — unless this request was delivered again by
   * RabbitMQ and had already made its change (its history names it: the registry died between the
   * COMMIT and the answer). Then it is not made again, which might refuse it (a second delete or
   * yank is a 409, an If-Match no longer holds), and `asMade` answers as its first delivery would
   * have, from the tool as it is now. A change that records nothing (one that changed nothing)
   * runs again, and changes nothing again.
   */
  private async writeOnce<T>(
    id: string,
    actor: Actor,
    /** For the metric and the log: `tool.update`, `version.yank`, … */
    operation: string,
    asMade: (m: EntityManager, made: ToolHistory) => Promise<T>,
    fn: (m: EntityManager) => Promise<T>,
  ): Promise<T> {
    const made = await this.madeBy(this.dataSource.manager, currentOrigin(), operation, id, undefined, actor);
    return made ? asMade(this.dataSource.manager, made) : this.write(fn);
  }

  /** A change's answer as made (writeOnce): the tool as it is now. */
  private answerFromTool(id: string) {
    return async (m: EntityManager) => toolView(await this.toolAsMade(m, id));
  }

  /** The tool as it is now, for a change's answer (deleted or not). */
  private async toolAsMade(m: EntityManager, id: string): Promise<Tool> {
    const tool = await m.getRepository(Tool).findOne({ where: { id }, withDeleted: true });
    if (!tool) throw DomainError.notFound('Tool', id);
    return tool;
  }

  /**
   * Runs a change in one transaction (again if MySQL picked it as a deadlock victim), then — before the caller gets an answer — bumps the read
   * cache generation, so no reader is served a cached tool or list from before this write.
   */
  async write<T>(fn: (m: EntityManager) => Promise<T>): Promise<T> {
    const result = await transactionRetryingDeadlocks(this.dataSource, fn);
    crashPoint('registry.change.committed');
    await this.afterWrite();
    return result;
  }

  /**
   * Bumps the cache generation after a committed write (one INCR shared by the writes finishing
   * together: each of them committed before it was sent) and nudges the outbox relay.
   */
  private afterWrite(): Promise<void> {
    this.outbox.nudge();
    return this.bumpGeneration();
  }
}
