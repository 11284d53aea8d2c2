import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { QueryFilter } from 'mongoose';
import {
  documentTitleFrom,
  ErrorCode,
  EventConsumer,
  EventKey,
  RpcPattern,
  type Actor,
  type DocumentSummary,
  type DocumentView,
  type EventPayload,
  type ListDocumentsQuery,
  type RpcData,
  type UpdateDocumentInput,
} from '#contracts';
import { APP_CONFIG, canRead, canWrite, DomainError, EventBus, isAdmin, JsonLogger, RpcClient, type AppConfig } from '#common';
import { KnowledgeStore, type DocumentRecord } from '../database/knowledge-store';
import { EmbeddingsService } from '../embeddings/embeddings.service';
import { chunkDocument } from './chunking';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Only what the caller may see: public documents, their own, everything for admins. */
export function visibleTo(actor: Actor): QueryFilter<DocumentRecord> {
  return isAdmin(actor) ? {} : { $or: [{ visibility: 'public' }, { ownerId: actor.user_id }] };
}

function iso(d: Date | undefined): string {
  return (d ?? new Date(0)).toISOString();
}

export function toSummary(doc: DocumentRecord): DocumentSummary {
  return {
    id: doc._id,
    title: doc.title,
    content_type: doc.contentType,
    source: doc.source,
    source_ref: doc.sourceRef?.repository
      ? { repository: doc.sourceRef.repository, path: doc.sourceRef.path, ref: doc.sourceRef.ref ?? null }
      : null,
    tags: doc.tags,
    tool_ids: doc.toolIds,
    owner_id: doc.ownerId,
    visibility: doc.visibility,
    content_hash: doc.contentHash,
    size_bytes: doc.sizeBytes,
    chunk_count: doc.chunks.length,
    embedding_status: doc.embedding.status,
    created_at: iso(doc.createdAt),
    updated_at: iso(doc.updatedAt),
  };
}

function toView(doc: DocumentRecord): DocumentView {
  return {
    ...toSummary(doc),
    body: doc.body,
    chunks: doc.chunks.map((c) => ({ id: c.id, index: c.index, heading: c.heading, start: c.start, end: c.end })),
  };
}

/**
 * Documents: validation and limits, chunking, authorization per document, and the reactions to
 * other services' events. Every write is a single MongoDB document write (chunks live inside the
 * document), so a failed or interrupted write leaves either the old or the new version, never a
 * half-written document or orphan chunks; updates are conditional on the revision read.
 */
@Injectable()
export class DocumentsService implements OnApplicationBootstrap {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(KnowledgeStore) private readonly store: KnowledgeStore,
    @Inject(EmbeddingsService) private readonly embeddings: EmbeddingsService,
    @Inject(EventBus) private readonly bus: EventBus,
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(JsonLogger) private readonly logger: JsonLogger,
  ) {}

  /** Not awaited: the service answers while RabbitMQ is away; the consumer attaches when it is back. */
  onApplicationBootstrap(): void {
    this.bus
      .subscribe(EventConsumer.KNOWLEDGE_INGEST, [EventKey.TOOL_DELETED, EventKey.GITHUB_DOCUMENT_PUBLISHED], async (message) => {
        if (message.key === EventKey.TOOL_DELETED) await this.unlinkTool((message.payload as EventPayload<'tool.deleted'>).tool_id);
        else if (message.key === EventKey.GITHUB_DOCUMENT_PUBLISHED)
          await this.ingestGithub(message.payload as EventPayload<'github.document.published'>);
      })
      .catch((err: unknown) => this.logger.error({ msg: 'knowledge event consumer failed to start', err: String(err) }, 'Documents'));
  }

  /** Size, type and JSON checks shared by every way a body arrives. */
  private checkBody(body: string, contentType: DocumentRecord['contentType']): { sizeBytes: number; contentHash: string } {
    const sizeBytes = Buffer.byteLength(body, 'utf8');
    const limit = this.config.knowledge.maxDocumentBytes;
    if (sizeBytes > limit)
      throw new DomainError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        `document body is ${sizeBytes} bytes; the limit is ${limit} bytes (KNOWLEDGE_MAX_DOCUMENT_BYTES)`,
      );
    if (contentType === 'application/json') {
      try {
        JSON.parse(body);
      } catch (err) {
        throw new DomainError(
          ErrorCode.VALIDATION_FAILED,
          `body is not valid JSON (content_type application/json): ${(err as Error).message}`,
          [{ path: 'body', message: 'invalid JSON' }],
        );
      }
    }
    if (body.includes('\u0000')) throw new DomainError(ErrorCode.VALIDATION_FAILED, 'body must be text: it contains NUL characters');
    return { sizeBytes, contentHash: sha256(body) };
  }

  /** Linked tools must exist and be visible to the caller (asked of the registry, once per newly linked id). */
  private async checkTools(toolIds: readonly string[], actor: Actor, already: readonly string[] = []): Promise<void> {
    const fresh = toolIds.filter((id) => !already.includes(id));
    const missing: string[] = [];
    await Promise.all(
      fresh.map(async (id) => {
        try {
          await this.rpc.send(RpcPattern.REGISTRY_TOOL_GET, { tool_id: id }, { actor });
        } catch (err) {
          if (err instanceof DomainError && err.code === ErrorCode.NOT_FOUND) missing.push(id);
          else throw err;
        }
      }),
    );
    if (missing.length)
      throw new DomainError(ErrorCode.UNPROCESSABLE, `tool_ids: no tool you can see has the id ${missing.join(', ')}`, [
        { path: 'tool_ids', message: 'unknown tool', ids: missing },
      ]);
  }

  private embeddingState(): DocumentRecord['embedding'] {
    return this.embeddings.enabled
      ? { status: 'pending', model: this.embeddings.model, error: null }
      : { status: 'disabled', model: null, error: null };
  }

  async create(req: RpcData<typeof RpcPattern.KNOWLEDGE_DOCUMENT_CREATE>, actor: Actor): Promise<DocumentView> {
    if (actor.role === 'viewer') throw new DomainError(ErrorCode.FORBIDDEN, 'Viewers cannot add documents');
    const { sizeBytes, contentHash } = this.checkBody(req.body, req.content_type);
    await this.checkTools(req.tool_ids, actor);
    const id = randomUUID();
    const record = {
      _id: id,
      title: req.title,
      body: req.body,
      contentType: req.content_type,
      source: req.source,
      sourceRef: null,
      fileName: req.file_name,
      tags: req.tags,
      toolIds: req.tool_ids,
      ownerId: actor.user_id,
      visibility: req.visibility,
      contentHash,
      sizeBytes,
      chunks: chunkDocument(id, req.body, req.content_type),
      embedding: this.embeddingState(),
      revision: 1,
    };
    const created = await this.store.documents.create(record);
    await this.embeddings.enqueue(id, contentHash);
    this.logger.log({ msg: 'document created', document_id: id, bytes: sizeBytes, chunks: record.chunks.length }, 'Documents');
    return toView(created.toObject());
  }

  async list(
    query: ListDocumentsQuery,
    actor: Actor,
  ): Promise<{ items: DocumentSummary[]; total: number; page: number; page_size: number }> {
    const filter: QueryFilter<DocumentRecord> = { ...visibleTo(actor) };
    if (query.tag) filter.tags = query.tag;
    if (query.tool_id) filter.toolIds = query.tool_id;
    if (query.source) filter.source = query.source;
    if (query.owner) filter.ownerId = query.owner;
    const [docs, total] = await Promise.all([
      this.store.documents
        .find(filter, { body: 0 })
        .sort({ updatedAt: -1, _id: 1 })
        .skip((query.page - 1) * query.page_size)
        .limit(query.page_size)
        .lean<DocumentRecord[]>(),
      this.store.documents.countDocuments(filter),
    ]);
    return { items: docs.map(toSummary), total, page: query.page, page_size: query.page_size };
  }

  /** A document the actor may see (NOT_FOUND otherwise, so private ids do not leak). */
  private async visible(id: string, actor: Actor): Promise<DocumentRecord> {
    const doc = await this.store.documents.findById(id).lean<DocumentRecord>();
    if (!doc || !canRead(doc, actor)) throw new DomainError(ErrorCode.NOT_FOUND, `No document with id ${id}`);
    return doc;
  }

  private async writable(id: string, actor: Actor): Promise<DocumentRecord> {
    const doc = await this.visible(id, actor);
    if (!canWrite(doc, actor)) throw new DomainError(ErrorCode.FORBIDDEN, "Only the document's owner or an admin may change it");
    return doc;
  }

  async get(id: string, actor: Actor): Promise<DocumentView> {
    return toView(await this.visible(id, actor));
  }

  async update(id: string, changes: UpdateDocumentInput, actor: Actor): Promise<DocumentView> {
    const doc = await this.writable(id, actor);
    if (doc.source === 'github' && (changes.body !== undefined || changes.content_type !== undefined))
      throw new DomainError(
        ErrorCode.CONFLICT,
        'This document mirrors a GitHub file: change the file in the repository, github-sync updates it here',
      );
    const set: Partial<DocumentRecord> = {};
    if (changes.title !== undefined) set.title = changes.title;
    if (changes.tags !== undefined) set.tags = changes.tags;
    if (changes.visibility !== undefined) set.visibility = changes.visibility;
    if (changes.tool_ids !== undefined) {
      await this.checkTools(changes.tool_ids, actor, doc.toolIds);
      set.toolIds = changes.tool_ids;
    }
    const body = changes.body ?? doc.body;
    const contentType = changes.content_type ?? doc.contentType;
    const contentChanged = body !== doc.body || contentType !== doc.contentType;
    if (contentChanged) {
      const { sizeBytes, contentHash } = this.checkBody(body, contentType);
      Object.assign(set, {
        body,
        contentType,
        sizeBytes,
        contentHash,
        chunks: chunkDocument(id, body, contentType),
        embedding: this.embeddingState(),
      });
    }
    const updated = await this.store.documents
      .findOneAndUpdate({ _id: id, revision: doc.revision }, { $set: set, $inc: { revision: 1 } }, { returnDocument: 'after' })
      .lean<DocumentRecord>();
    if (!updated) throw new DomainError(ErrorCode.CONFLICT, 'The document changed while you were updating it: read it again and retry');
    if (contentChanged) await this.embeddings.enqueue(id, updated.contentHash);
    return toView(updated);
  }

  async remove(id: string, actor: Actor): Promise<{ id: string; deleted: true }> {
    const doc = await this.writable(id, actor);
    const { deletedCount } = await this.store.documents.deleteOne({ _id: id, revision: doc.revision });
    if (deletedCount === 0)
      throw new DomainError(ErrorCode.CONFLICT, 'The document changed while you were deleting it: read it again and retry');
    // Embeddings are derived data: a crash here leaves vectors no search can reach (search joins on live documents).
    await this.store.embeddings.deleteMany({ documentId: id });
    await this.embeddings.vectorsChanged();
    this.logger.log({ msg: 'document deleted', document_id: id }, 'Documents');
    return { id, deleted: true };
  }

  /** `tool.deleted`: the tool's links disappear from every document (idempotent). */
  async unlinkTool(toolId: string): Promise<number> {
    const result = await this.store.documents.updateMany({ toolIds: toolId }, { $pull: { toolIds: toolId }, $inc: { revision: 1 } });
    if (result.modifiedCount) this.logger.log({ msg: 'tool links removed', tool_id: toolId, documents: result.modifiedCount }, 'Documents');
    return result.modifiedCount;
  }

  /**
   * `github.document.published`: one document per repository + path, created or updated; the same
   * content again (a redelivery, a re-sync) changes nothing.
   */
  async ingestGithub(event: EventPayload<'github.document.published'>): Promise<'created' | 'updated' | 'unchanged'> {
    const sourceKey = `github:${event.repository.toLowerCase()}:${event.path}`;
    const { sizeBytes, contentHash } = this.checkBody(event.content, event.content_type);
    const title = documentTitleFrom(event.content, `${event.repository}/${event.path}`);
    const existing = await this.store.documents.findOne({ sourceKey }).lean<DocumentRecord>();
    if (existing?.contentHash === contentHash && existing.visibility === event.visibility) return 'unchanged';
    const id = existing?._id ?? randomUUID();
    const content = {
      title,
      body: event.content,
      contentType: event.content_type,
      sourceRef: { repository: event.repository, path: event.path, ref: event.ref },
      visibility: event.visibility,
      contentHash,
      sizeBytes,
      chunks: chunkDocument(id, event.content, event.content_type),
      embedding: this.embeddingState(),
    };
    if (existing) {
      const updated = await this.store.documents.updateOne(
        { _id: id, revision: existing.revision },
        { $set: content, $inc: { revision: 1 } },
      );
      if (updated.matchedCount === 0) throw new Error(`document ${id} changed during a GitHub update; the event will be retried`);
    } else {
      await this.store.documents.create({
        _id: id,
        ...content,
        source: 'github',
        sourceKey,
        tags: ['github'],
        toolIds: [...new Set(event.tool_ids)],
        ownerId: event.owner_id,
        revision: 1,
      });
    }
    await this.embeddings.enqueue(id, contentHash);
    this.logger.log({ msg: 'github document ingested', document_id: id, repository: event.repository, path: event.path }, 'Documents');
    return existing ? 'updated' : 'created';
  }
}
