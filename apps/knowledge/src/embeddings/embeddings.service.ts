import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Job, Worker } from 'bullmq';
import { QueueName } from '#contracts';
import type { Redis } from 'ioredis';
import { APP_CONFIG, createWorker, JobQueue, jobId, JsonLogger, REDIS, type AppConfig } from '#common';
import { KnowledgeStore, type DocumentRecord } from '../database/knowledge-store';
import { cosine, createEmbeddings, type EmbeddingsModel } from './providers';

const BATCH = 64;
const VECTORS_GENERATION_KEY = 'knowledge:vectors:generation';
const CHUNK_TEXT_LIMIT = 4000;
const SWEEP_INTERVAL_MS = 60_000;
/** A pending document older than this whose job may have been lost (Redis down at write time) is queued again. */
const STALE_PENDING_MS = 30_000;

export interface VectorHit {
  documentId: string;
  chunkId: string;
  similarity: number;
}

/**
 * Chunk embeddings for hybrid search, when a provider is configured: a BullMQ job per document
 * version embeds the chunks that have no vector yet for the current model (unchanged chunks keep
 * theirs: chunk ids are content hashes), drops vectors of chunks that no longer exist, and marks
 * the document ready. Jobs retry with backoff; a periodic sweep re-queues documents whose job was
 * never queued (e.g. Redis was down) or that were embedded with another model.
 */
@Injectable()
export class EmbeddingsService implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private provider?: EmbeddingsModel;
  private queue?: JobQueue<typeof QueueName.KNOWLEDGE_EMBEDDINGS>;
  private worker?: Worker;
  private sweeper?: NodeJS.Timeout;

  /** The model's vectors, as of a generation of the shared counter (see {@link vectors}). */
  private cache?: { generation: string; model: string; vectors: CachedVector[] };

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(KnowledgeStore) private readonly store: KnowledgeStore,
    @Inject(JsonLogger) private readonly logger: JsonLogger,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  /** Tells every instance its vector cache is out of date (call after writing or deleting vectors). */
  async vectorsChanged(): Promise<void> {
    if (this.enabled) await this.redis.incr(VECTORS_GENERATION_KEY);
  }

  /**
   * All vectors of the current model, from a per-process cache that is reloaded when the shared
   * generation counter moved. The counter is read before loading, and writers bump it after
   * writing, so a cache is never labelled newer than its content.
   */
  private async vectors(): Promise<CachedVector[]> {
    const generation = (await this.redis.get(VECTORS_GENERATION_KEY)) ?? '0';
    if (this.cache && this.cache.generation === generation && this.cache.model === this.model) return this.cache.vectors;
    const rows = await this.store.embeddings.find({ model: this.model }, { documentId: 1, chunkId: 1, vector: 1 }).lean<EmbeddingLike[]>();
    const vectors = rows.map((e) => ({ documentId: e.documentId, chunkId: e.chunkId, vector: Float32Array.from(e.vector) }));
    this.cache = { generation, model: this.model, vectors };
    return vectors;
  }

  get enabled(): boolean {
    return this.config.embeddings.provider !== 'none';
  }

  get model(): string {
    return `${this.config.embeddings.provider}:${this.config.embeddings.model}`;
  }

  async onModuleInit(): Promise<void> {
    this.provider = await createEmbeddings(this.config.embeddings);
    if (!this.provider) return;
    this.queue = new JobQueue(this.config, QueueName.KNOWLEDGE_EMBEDDINGS);
    this.logger.log({ msg: 'hybrid search enabled', model: this.model }, 'Embeddings');
  }

  onApplicationBootstrap(): void {
    if (!this.provider) return;
    this.worker = createWorker(
      this.config,
      QueueName.KNOWLEDGE_EMBEDDINGS,
      { 'knowledge.document.embed': (data, job) => this.embedDocument(data.document_id, data.content_hash, job) },
      { concurrency: 2 },
    );
    this.worker.on('failed', (job, err) => {
      if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
      const id = (job.data as { data?: { document_id?: string } }).data?.document_id;
      this.logger.error({ msg: 'embedding failed for good', document_id: id, err: err.message }, 'Embeddings');
      if (id)
        void this.store.documents
          .updateOne(
            { _id: id, 'embedding.status': 'pending' },
            { $set: { 'embedding.status': 'failed', 'embedding.error': err.message.slice(0, 500) } },
          )
          .catch(() => undefined);
    });
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
    void this.sweep();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await this.worker?.close();
    await this.queue?.close();
  }

  /** Queues the embedding of one document version. Never fails the write: the sweep catches what could not be queued. */
  async enqueue(documentId: string, contentHash: string): Promise<void> {
    if (!this.queue) return;
    try {
      await this.queue.add(
        'knowledge.document.embed',
        { document_id: documentId, content_hash: contentHash },
        { jobId: jobId('embed', documentId, contentHash) },
      );
    } catch (err) {
      this.logger.warn({ msg: 'could not queue embedding; the sweep will retry', document_id: documentId, err: String(err) }, 'Embeddings');
    }
  }

  private async sweep(): Promise<void> {
    try {
      const stale = await this.store.documents
        .find(
          {
            $or: [
              { 'embedding.status': 'pending', updatedAt: { $lt: new Date(Date.now() - STALE_PENDING_MS) } },
              { 'embedding.status': { $in: ['ready', 'disabled'] }, 'embedding.model': { $ne: this.model } },
            ],
          },
          { _id: 1, contentHash: 1 },
        )
        .limit(500)
        .lean<Pick<DocumentRecord, '_id' | 'contentHash'>[]>();
      for (const doc of stale) {
        await this.store.documents.updateOne(
          { _id: doc._id, contentHash: doc.contentHash },
          { $set: { 'embedding.status': 'pending', 'embedding.model': this.model } },
        );
        await this.enqueue(doc._id, doc.contentHash);
      }
    } catch (err) {
      this.logger.warn({ msg: 'embedding sweep failed', err: String(err) }, 'Embeddings');
    }
  }

  /** The job: embeds what is missing for this version of the document; a newer version makes it a no-op. */
  async embedDocument(documentId: string, contentHash: string, job?: Job): Promise<{ embedded: number; reused: number; skipped?: string }> {
    const provider = this.provider;
    if (!provider) return { embedded: 0, reused: 0, skipped: 'embeddings disabled' };
    const doc = await this.store.documents.findById(documentId).lean<DocumentRecord>();
    if (!doc || doc.contentHash !== contentHash) return { embedded: 0, reused: 0, skipped: 'document changed or deleted' };
    const model = this.model;
    const key = (chunkId: string) => `${model}|${chunkId}`;
    const have = new Set(
      (await this.store.embeddings.find({ _id: { $in: doc.chunks.map((c) => key(c.id)) } }, { _id: 1 }).lean<{ _id: string }[]>()).map(
        (e) => e._id,
      ),
    );
    const missing = doc.chunks.filter((c) => !have.has(key(c.id)));
    for (let i = 0; i < missing.length; i += BATCH) {
      const batch = missing.slice(i, i + BATCH);
      const texts = batch.map((c) => `${c.heading ? `${c.heading}\n` : ''}${doc.body.slice(c.start, c.end)}`.slice(0, CHUNK_TEXT_LIMIT));
      const vectors = await provider.embedDocuments(texts);
      await this.store.embeddings.bulkWrite(
        batch.map((c, n) => ({
          replaceOne: {
            filter: { _id: key(c.id) },
            replacement: { _id: key(c.id), documentId, chunkId: c.id, model, vector: vectors[n] ?? [] },
            upsert: true,
          },
        })),
      );
      await job?.updateProgress(Math.round(((i + batch.length) / missing.length) * 100));
    }
    await this.store.embeddings.deleteMany({ documentId, _id: { $nin: doc.chunks.map((c) => key(c.id)) } });
    await this.vectorsChanged();
    await this.store.documents.updateOne(
      { _id: documentId, contentHash },
      { $set: { embedding: { status: 'ready', model, error: null } } },
      { timestamps: false },
    );
    return { embedded: missing.length, reused: doc.chunks.length - missing.length };
  }

  /**
   * Documents ranked by their best chunk's cosine similarity to the query, among `documentIds`
   * (already filtered for visibility). Vectors are compared in the service from the cache above:
   * MongoDB Community has no vector index; for very large corpora a vector store (Atlas Search,
   * pgvector) would take this over.
   */
  async vectorSearch(query: string, documentIds: ReadonlySet<string>, limit: number): Promise<VectorHit[]> {
    if (!this.provider || documentIds.size === 0) return [];
    const queryVector = await this.provider.embedQuery(query);
    const best = new Map<string, VectorHit>();
    for (const e of await this.vectors()) {
      if (!documentIds.has(e.documentId)) continue;
      const similarity = cosine(queryVector, e.vector);
      const current = best.get(e.documentId);
      if (similarity > 0 && (!current || similarity > current.similarity))
        best.set(e.documentId, { documentId: e.documentId, chunkId: e.chunkId, similarity });
    }
    return [...best.values()].sort((a, b) => b.similarity - a.similarity).slice(0, limit);
  }
}

interface CachedVector {
  documentId: string;
  chunkId: string;
  vector: Float32Array;
}

interface EmbeddingLike {
  documentId: string;
  chunkId: string;
  vector: number[];
}
