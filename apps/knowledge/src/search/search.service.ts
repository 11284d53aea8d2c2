import { Inject, Injectable } from '@nestjs/common';
import type { QueryFilter } from 'mongoose';
import { ErrorCode, type Actor, type SearchHit, type SearchRequest, type SearchResponse } from '#contracts';
import { APP_CONFIG, DomainError, JsonLogger, type AppConfig } from '#common';
import { KnowledgeStore, type ChunkRecord, type DocumentRecord } from '../database/knowledge-store';
import { visibleTo } from '../documents/documents.service';
import { EmbeddingsService } from '../embeddings/embeddings.service';
import { bestChunk, queryTerms, snippet } from './snippets';

/** How many ranked candidates each retriever contributes (and the most `total` counts). */
const CANDIDATES = 1000;
/**
 * Nearest chunks' documents the vector side contributes. Every document has some similarity to any
 * query, so the vector side is a top-k (as in k-NN search), not a match set.
 */
const VECTOR_CANDIDATES = 100;
/** Reciprocal rank fusion constant (Cormack et al.): dampens the weight of top ranks. */
const RRF_K = 60;

type PageDocument = Pick<DocumentRecord, '_id' | 'title' | 'source' | 'tags' | 'toolIds' | 'chunks' | 'body'>;
interface Ranked {
  id: string;
  score: number;
  /** Hybrid: the chunk the vector search matched best. */
  vectorChunk?: string;
}

/**
 * Knowledge search. Text mode ranks documents by MongoDB's weighted text index (title above tags
 * above body). Hybrid mode, when embeddings are configured, also ranks by the best chunk's vector
 * similarity and merges both lists by reciprocal rank fusion. Both apply visibility and filters in
 * the query, so a caller never sees, nor gets counted, what they may not read.
 */
@Injectable()
export class SearchService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(KnowledgeStore) private readonly store: KnowledgeStore,
    @Inject(EmbeddingsService) private readonly embeddings: EmbeddingsService,
    @Inject(JsonLogger) private readonly logger: JsonLogger,
  ) {}

  private filterFor(req: SearchRequest, actor: Actor): QueryFilter<DocumentRecord> {
    const and: QueryFilter<DocumentRecord>[] = [visibleTo(actor)];
    if (req.filters.tags?.length) and.push({ tags: { $all: req.filters.tags } });
    if (req.filters.tool_ids?.length) and.push({ toolIds: { $in: req.filters.tool_ids } });
    if (req.filters.source?.length) and.push({ source: { $in: req.filters.source } });
    const clauses = and.filter((f) => Object.keys(f).length > 0);
    return clauses.length ? { $and: clauses } : {};
  }

  async search(req: SearchRequest, actor: Actor): Promise<SearchResponse> {
    if (req.query.length > this.config.knowledge.maxQueryLength)
      throw new DomainError(
        ErrorCode.VALIDATION_FAILED,
        `query is ${req.query.length} characters; the limit is ${this.config.knowledge.maxQueryLength} (KNOWLEDGE_MAX_QUERY_LENGTH)`,
        [{ path: 'query', message: 'too long' }],
      );
    const filter = this.filterFor(req, actor);
    const warnings: string[] = [];

    // Ranking reads ids and scores only; the page's documents are read in full afterwards.
    const textRanked = await this.store.documents
      .find({ ...filter, $text: { $search: req.query } }, { _id: 1, score: { $meta: 'textScore' } })
      .sort({ score: { $meta: 'textScore' }, _id: 1 })
      .limit(CANDIDATES)
      .lean<{ _id: string; score: number }[]>();

    let mode: SearchResponse['mode'] = 'text';
    let ranked: Ranked[] = textRanked.map((d) => ({ id: d._id, score: d.score }));
    if (this.embeddings.enabled) {
      try {
        ranked = await this.fuse(req.query, filter, ranked);
        mode = 'hybrid';
      } catch (err) {
        // The provider being down must not take search down: text results, and a word about it.
        warnings.push(`vector search unavailable, text results only: ${(err as Error).message}`);
        this.logger.warn({ msg: 'vector search failed; falling back to text', err: String(err) }, 'Search');
      }
    }

    const page = ranked.slice((req.page - 1) * req.page_size, req.page * req.page_size);
    const docs = new Map(
      (
        await this.store.documents
          .find({ _id: { $in: page.map((r) => r.id) } }, { _id: 1, title: 1, source: 1, tags: 1, toolIds: 1, chunks: 1, body: 1 })
          .lean<PageDocument[]>()
      ).map((d) => [d._id, d]),
    );
    const wanted = queryTerms(req.query);
    const items: SearchHit[] = [];
    for (const { id, score, vectorChunk } of page) {
      const doc = docs.get(id);
      if (!doc) continue; // deleted between the two reads
      const chunk = pickChunk(doc.body, doc.chunks, wanted, vectorChunk);
      if (!chunk) continue;
      const text = doc.body.slice(chunk.start, chunk.end);
      items.push({
        document_id: doc._id,
        title: doc.title,
        source: doc.source,
        tags: doc.tags,
        tool_ids: doc.toolIds,
        score: Number(score.toFixed(6)),
        chunk: { id: chunk.id, index: chunk.index, heading: chunk.heading, text },
        ...snippet(text, wanted),
      });
    }
    return { mode, query: req.query, total: ranked.length, page: req.page, page_size: req.page_size, items, warnings };
  }

  /** Text ranks and vector ranks merged by reciprocal rank fusion. */
  private async fuse(query: string, filter: QueryFilter<DocumentRecord>, textRanked: Ranked[]): Promise<Ranked[]> {
    const visible = await this.store.documents.find(filter, { _id: 1 }).lean<{ _id: string }[]>();
    const vectorHits = await this.embeddings.vectorSearch(query, new Set(visible.map((d) => d._id)), VECTOR_CANDIDATES);
    const fused = new Map<string, Ranked>();
    textRanked.forEach(({ id }, rank) => fused.set(id, { id, score: 1 / (RRF_K + rank + 1) }));
    vectorHits.forEach((hit, rank) => {
      const entry = fused.get(hit.documentId) ?? { id: hit.documentId, score: 0 };
      entry.score += 1 / (RRF_K + rank + 1);
      entry.vectorChunk = hit.chunkId;
      fused.set(hit.documentId, entry);
    });
    return [...fused.values()].sort((a, b) => b.score - a.score || a.id.localeCompare(b.id));
  }
}

/** The chunk to show: the best lexical match, else the chunk the vector search found, else the first. */
function pickChunk(
  body: string,
  chunks: readonly ChunkRecord[],
  wanted: ReadonlySet<string>,
  vectorChunk?: string,
): ChunkRecord | undefined {
  const lexical = bestChunk(body, chunks, wanted);
  if (lexical && lexical.matches > 0) return lexical.chunk;
  return chunks.find((c) => c.id === vectorChunk) ?? chunks[0];
}
