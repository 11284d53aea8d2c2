import { z } from 'zod';
import { visibilitySchema } from './registry';

/** Knowledge payloads: documents about MCP tools, split into chunks for search. */

export const DOCUMENT_CONTENT_TYPES = ['text/markdown', 'text/plain', 'application/json'] as const;
export const documentContentTypeSchema = z.enum(DOCUMENT_CONTENT_TYPES);
export const documentSourceSchema = z.enum(['upload', 'github', 'api']);
export type DocumentSource = z.infer<typeof documentSourceSchema>;

/** File extensions accepted by the multipart upload, with the content type each one means. */
export const UPLOAD_EXTENSIONS: Record<string, (typeof DOCUMENT_CONTENT_TYPES)[number]> = {
  '.md': 'text/markdown',
  '.markdown': 'text/markdown',
  '.txt': 'text/plain',
  '.json': 'application/json',
};

/** Hard caps of the API (the configured limits may be lower, never higher). */
export const KNOWLEDGE_LIMITS = {
  titleChars: 300,
  tags: 20,
  toolIds: 50,
  listPageSize: 100,
  searchPageSize: 50,
  queryChars: 1000,
} as const;

/** A title for a document that came without one: its first markdown heading, else the fallback (e.g. the file name). */
export function documentTitleFrom(body: string, fallback: string): string {
  const heading = /^#{1,6}\s+(.+?)\s*#*\s*$/m.exec(body)?.[1]?.trim();
  return (heading || fallback).slice(0, KNOWLEDGE_LIMITS.titleChars);
}

const tagSchema = z
  .string()
  .trim()
  .min(1)
  .max(50)
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and "-"');
const uuid = (what: string) => z.uuid({ message: `${what} must be a UUID` });
const toolIdsSchema = z
  .array(uuid('each tool id'))
  .max(KNOWLEDGE_LIMITS.toolIds)
  .transform((ids) => [...new Set(ids)]);

const documentFields = {
  title: z.string().trim().min(1, 'title must not be empty').max(KNOWLEDGE_LIMITS.titleChars),
  body: z.string().min(1, 'body must not be empty'),
  content_type: documentContentTypeSchema,
  tags: z
    .array(tagSchema)
    .max(KNOWLEDGE_LIMITS.tags)
    .transform((tags) => [...new Set(tags)]),
  tool_ids: toolIdsSchema,
  visibility: visibilitySchema,
};

export const createDocumentSchema = z.strictObject({
  title: documentFields.title,
  body: documentFields.body,
  content_type: documentFields.content_type.default('text/markdown'),
  tags: documentFields.tags.default([]),
  tool_ids: documentFields.tool_ids.default([]),
  visibility: documentFields.visibility.default('private'),
});
export type CreateDocumentInput = z.infer<typeof createDocumentSchema>;

/** What the knowledge service receives: the gateway adds how the document arrived. */
export const createDocumentRequestSchema = createDocumentSchema.extend({
  source: z.enum(['upload', 'api']).default('api'),
  file_name: z.string().max(255).optional(),
});

export const updateDocumentSchema = z
  .strictObject(documentFields)
  .partial()
  .refine((v) => Object.keys(v).length > 0, { message: 'give at least one field to change' });
export type UpdateDocumentInput = z.infer<typeof updateDocumentSchema>;

const csvOrArray = <T extends z.ZodType>(item: T) =>
  z.preprocess((v) => (typeof v === 'string' ? v.split(',').filter(Boolean) : v), z.array(item).max(KNOWLEDGE_LIMITS.toolIds));

export const listDocumentsQuerySchema = z.strictObject({
  page: z.coerce.number().int().min(1).default(1),
  page_size: z.coerce.number().int().min(1).max(KNOWLEDGE_LIMITS.listPageSize).default(20),
  tag: tagSchema.optional(),
  tool_id: uuid('tool_id').optional(),
  source: documentSourceSchema.optional(),
  owner: z.string().max(64).optional().describe('owner user id'),
});
export type ListDocumentsQuery = z.infer<typeof listDocumentsQuerySchema>;

export const searchRequestSchema = z.strictObject({
  query: z.string().trim().min(1, 'query must not be empty').max(KNOWLEDGE_LIMITS.queryChars),
  filters: z
    .strictObject({
      tags: csvOrArray(tagSchema).optional().describe('documents with all of these tags'),
      tool_ids: csvOrArray(uuid('each tool id')).optional().describe('documents linked to any of these tools'),
      source: z.array(documentSourceSchema).max(3).optional(),
    })
    .default({}),
  page: z.number().int().min(1).max(100).default(1),
  page_size: z.number().int().min(1).max(KNOWLEDGE_LIMITS.searchPageSize).default(10),
});
export type SearchRequest = z.infer<typeof searchRequestSchema>;

export const chunkSchema = z.object({
  id: z.string(),
  index: z.number(),
  heading: z.string().nullable(),
  start: z.number(),
  end: z.number(),
});

export const documentSummarySchema = z.object({
  id: z.string(),
  title: z.string(),
  content_type: documentContentTypeSchema,
  source: documentSourceSchema,
  source_ref: z.object({ repository: z.string(), path: z.string(), ref: z.string().nullable() }).nullable(),
  tags: z.array(z.string()),
  tool_ids: z.array(z.string()),
  owner_id: z.string(),
  visibility: visibilitySchema,
  content_hash: z.string().describe('sha256 of the body'),
  size_bytes: z.number(),
  chunk_count: z.number(),
  embedding_status: z.enum(['disabled', 'pending', 'ready', 'failed']),
  created_at: z.string(),
  updated_at: z.string(),
});
export type DocumentSummary = z.infer<typeof documentSummarySchema>;

export const documentSchema = documentSummarySchema.extend({ body: z.string(), chunks: z.array(chunkSchema) });
export type DocumentView = z.infer<typeof documentSchema>;

export const documentPageSchema = z.object({
  items: z.array(documentSummarySchema),
  total: z.number(),
  page: z.number(),
  page_size: z.number(),
});

export const searchHitSchema = z.object({
  document_id: z.string(),
  title: z.string(),
  source: documentSourceSchema,
  tags: z.array(z.string()),
  tool_ids: z.array(z.string()),
  score: z.number().describe('text: MongoDB textScore; hybrid: reciprocal rank fusion score'),
  chunk: z.object({ id: z.string(), index: z.number(), heading: z.string().nullable(), text: z.string() }),
  snippet: z.string().describe('plain text around the best match'),
  highlights: z.array(z.tuple([z.number(), z.number()])).describe('[start, end) offsets of matched words in snippet'),
  snippet_html: z.string().describe('snippet, HTML-escaped, matched words in <mark>'),
});
export type SearchHit = z.infer<typeof searchHitSchema>;

export const searchResponseSchema = z.object({
  mode: z.enum(['text', 'hybrid']),
  query: z.string(),
  total: z.number().describe('text: documents matching the words (counted up to 1,000); hybrid: those plus the 100 nearest by vector'),
  page: z.number(),
  page_size: z.number(),
  items: z.array(searchHitSchema),
  warnings: z.array(z.string()),
});
export type SearchResponse = z.infer<typeof searchResponseSchema>;

export const KnowledgeRequests = {
  create: createDocumentRequestSchema,
  list: listDocumentsQuerySchema,
  get: z.strictObject({ document_id: z.string() }),
  update: z.strictObject({ document_id: z.string(), changes: updateDocumentSchema }),
  delete: z.strictObject({ document_id: z.string() }),
  search: searchRequestSchema,
};
