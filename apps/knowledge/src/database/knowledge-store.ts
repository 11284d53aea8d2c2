import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import mongoose, { Schema, type Connection, type Model } from 'mongoose';
import { Gauge } from 'prom-client';
import { APP_CONFIG, databaseName, HealthRegistry, JsonLogger, metricsRegistry, type AppConfig } from '#common';

export interface ChunkRecord {
  id: string;
  index: number;
  heading: string | null;
  start: number;
  end: number;
}

export type EmbeddingStatus = 'disabled' | 'pending' | 'ready' | 'failed';

export interface DocumentRecord {
  _id: string;
  title: string;
  body: string;
  contentType: 'text/markdown' | 'text/plain' | 'application/json';
  source: 'upload' | 'github' | 'api';
  sourceRef: { repository: string; path: string; ref: string | null } | null;
  /** `github:<owner/name>:<path>` for synced files: one document per repository file. */
  sourceKey?: string;
  fileName?: string;
  tags: string[];
  toolIds: string[];
  ownerId: string;
  visibility: 'private' | 'public';
  contentHash: string;
  sizeBytes: number;
  chunks: ChunkRecord[];
  embedding: { status: EmbeddingStatus; model: string | null; error: string | null };
  /** Incremented by every write: updates are conditional on it (no lost updates). */
  revision: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface EmbeddingRecord {
  /** `<model>|<chunk id>` */
  _id: string;
  documentId: string;
  chunkId: string;
  model: string;
  vector: number[];
}

const chunkSchema = new Schema<ChunkRecord>(
  { id: { type: String, required: true }, index: Number, heading: { type: String, default: null }, start: Number, end: Number },
  { _id: false },
);

const documentSchema = new Schema<DocumentRecord>(
  {
    _id: { type: String, required: true },
    title: { type: String, required: true },
    body: { type: String, required: true },
    contentType: { type: String, required: true },
    source: { type: String, required: true },
    sourceRef: { type: { repository: String, path: String, ref: { type: String, default: null } }, default: null, _id: false },
    sourceKey: { type: String },
    fileName: { type: String },
    tags: { type: [String], default: [] },
    toolIds: { type: [String], default: [] },
    ownerId: { type: String, required: true },
    visibility: { type: String, required: true },
    contentHash: { type: String, required: true },
    sizeBytes: { type: Number, required: true },
    chunks: { type: [chunkSchema], default: [] },
    embedding: {
      type: { status: String, model: { type: String, default: null }, error: { type: String, default: null } },
      _id: false,
    },
    revision: { type: Number, default: 1 },
  },
  { collection: 'documents', timestamps: true, versionKey: false, autoIndex: false, autoCreate: false, strict: 'throw' },
);
// Title matches outrank tag matches, which outrank body matches.
documentSchema.index({ title: 'text', tags: 'text', body: 'text' }, { name: 'document_text', weights: { title: 10, tags: 4, body: 1 } });
documentSchema.index({ sourceKey: 1 }, { unique: true, sparse: true });
documentSchema.index({ ownerId: 1, updatedAt: -1 });
documentSchema.index({ visibility: 1, updatedAt: -1 });
documentSchema.index({ tags: 1 });
documentSchema.index({ toolIds: 1 });
documentSchema.index({ 'embedding.status': 1, updatedAt: 1 });

const embeddingSchema = new Schema<EmbeddingRecord>(
  {
    _id: { type: String, required: true },
    documentId: { type: String, required: true },
    chunkId: { type: String, required: true },
    model: { type: String, required: true },
    vector: { type: [Number], required: true },
  },
  { collection: 'chunk_embeddings', versionKey: false, autoIndex: false, autoCreate: false },
);
embeddingSchema.index({ documentId: 1 });
embeddingSchema.index({ model: 1 });

/**
 * The knowledge service's MongoDB: one connection, its models, indexes created at start-up
 * (idempotent), and a `mongodb` probe in the health check.
 */
@Injectable()
export class KnowledgeStore implements OnModuleInit, OnApplicationShutdown {
  readonly connection: Connection;
  readonly documents: Model<DocumentRecord>;
  readonly embeddings: Model<EmbeddingRecord>;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(HealthRegistry) private readonly health: HealthRegistry,
    @Inject(JsonLogger) private readonly logger: JsonLogger,
  ) {
    if (!config.mongoUrl)
      throw new Error('MONGO_URL is not set: the knowledge service needs MongoDB (npm start runs a development server for you)');
    this.connection = mongoose.createConnection(config.mongoUrl, {
      dbName: databaseName(config, 'knowledge'),
      // Fail fast (a 503 naming MongoDB) rather than outlive the caller's RPC timeout (a 504) when
      // MongoDB is away; and no mongoose buffering, which would hold requests for 10 s.
      serverSelectionTimeoutMS: Math.max(1000, config.amqp.rpcTimeoutMs - 2000),
      bufferCommands: false,
      maxPoolSize: 20,
      autoIndex: false,
      autoCreate: false,
    });
    this.documents = this.connection.model<DocumentRecord>('Document', documentSchema);
    this.embeddings = this.connection.model<EmbeddingRecord>('ChunkEmbedding', embeddingSchema);
  }

  async onModuleInit(): Promise<void> {
    await this.connection.asPromise();
    await Promise.all([this.documents.createIndexes(), this.embeddings.createIndexes()]);
    this.health.registerProbe('mongodb', async () => {
      await this.connection.db?.admin().ping();
    });
    // Counted from the database when Prometheus scrapes (right with any number of instances).
    const documents = this.documents;
    metricsRegistry.removeSingleMetric('knowledge_documents_total');
    new Gauge({
      name: 'knowledge_documents_total',
      help: 'Knowledge documents by source, visibility and embedding status',
      labelNames: ['source', 'visibility', 'embedding'] as const,
      registers: [metricsRegistry],
      async collect() {
        const rows = await documents.aggregate<{ _id: { source: string; visibility: string; embedding: string }; n: number }>([
          { $group: { _id: { source: '$source', visibility: '$visibility', embedding: '$embedding.status' }, n: { $sum: 1 } } },
        ]);
        this.reset();
        for (const r of rows) this.set({ source: r._id.source, visibility: r._id.visibility, embedding: r._id.embedding }, r.n);
      },
    });
    this.logger.log({ msg: 'connected to MongoDB', database: this.connection.name }, 'KnowledgeStore');
  }

  async onApplicationShutdown(): Promise<void> {
    await this.connection.close();
  }
}
