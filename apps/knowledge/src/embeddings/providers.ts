import { Embeddings } from '@langchain/core/embeddings';
import { terms, type AppConfig } from '#common';

/**
 * Feature-hashing embeddings: each stemmed word is hashed into one of `dimensions` signed buckets,
 * weighted by 1 + log(term frequency), and the vector is L2-normalised. Offline, deterministic and
 * free, but purely lexical (no synonyms): for development, tests and air-gapped installs; use an
 * OpenAI or Ollama model for semantic search.
 */
export class HashingEmbeddings extends Embeddings {
  constructor(private readonly dimensions: number) {
    super({});
  }

  private embed(text: string): number[] {
    const counts = new Map<string, number>();
    for (const term of terms(text)) counts.set(term, (counts.get(term) ?? 0) + 1);
    const vector = new Array<number>(this.dimensions).fill(0);
    for (const [term, count] of counts) {
      let hash = 0x811c9dc5; // FNV-1a
      for (let i = 0; i < term.length; i++) hash = Math.imul(hash ^ term.charCodeAt(i), 0x01000193) >>> 0;
      const bucket = hash % this.dimensions;
      vector[bucket] = (vector[bucket] ?? 0) + (hash & 0x80000000 ? -1 : 1) * (1 + Math.log(count));
    }
    const norm = Math.hypot(...vector) || 1;
    return vector.map((v) => v / norm);
  }

  embedDocuments(documents: string[]): Promise<number[][]> {
    return Promise.resolve(documents.map((d) => this.embed(d)));
  }

  embedQuery(document: string): Promise<number[]> {
    return Promise.resolve(this.embed(document));
  }
}

/** What search needs of a LangChain embeddings model (its CJS and ESM typings differ, the shape does not). */
export interface EmbeddingsModel {
  embedDocuments(documents: string[]): Promise<number[][]>;
  embedQuery(document: string): Promise<number[]>;
}

/** The configured LangChain embeddings, or undefined for text-only search. Provider packages load only when chosen. */
export async function createEmbeddings(config: AppConfig['embeddings']): Promise<EmbeddingsModel | undefined> {
  switch (config.provider) {
    case 'none':
      return undefined;
    case 'hashing':
      return new HashingEmbeddings(config.dimensions);
    case 'openai': {
      const { OpenAIEmbeddings } = await import('@langchain/openai');
      return new OpenAIEmbeddings({
        apiKey: config.openaiApiKey,
        model: config.model,
        ...(config.model.startsWith('text-embedding-3') ? { dimensions: config.dimensions } : {}),
        configuration: config.openaiBaseUrl ? { baseURL: config.openaiBaseUrl } : undefined,
        maxRetries: 2,
      });
    }
    case 'ollama': {
      const { OllamaEmbeddings } = await import('@langchain/ollama');
      return new OllamaEmbeddings({ model: config.model, baseUrl: config.ollamaBaseUrl });
    }
  }
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}
