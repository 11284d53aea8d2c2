import { extname } from 'node:path';
import { Controller, Delete, Get, Inject, Param, Post, Put, Req } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  createDocumentSchema,
  documentPageSchema,
  documentSchema,
  documentTitleFrom,
  ErrorCode,
  listDocumentsQuerySchema,
  RpcPattern as P,
  searchRequestSchema,
  searchResponseSchema,
  updateDocumentSchema,
  UPLOAD_EXTENSIONS,
} from '#contracts';
import { DomainError, parseOrThrow, RpcClient } from '#common';
import { CurrentPrincipal, RequirePermission, toActor, type Principal } from '../auth/principal';
import { ApiAuth, ApiErrors, ApiReply } from '../http/openapi';
import { openApiSchema, uuidParam, ValidBody, ValidQuery } from '../http/validation';

const documentIdSchema = uuidParam('doc_id');
const documentId = (id: string) => parseOrThrow(documentIdSchema, id, 'doc_id');
const WRITE_TIMEOUT_MS = 30_000;
const ACCEPTED = Object.keys(UPLOAD_EXTENSIONS).join(', ');

const uploadFormSchema = z.object({
  file: z.string().describe(`the document: ${ACCEPTED} (UTF-8)`),
  title: z.string().optional().describe('default: the first markdown heading, else the file name'),
  tags: z.string().optional().describe('comma-separated'),
  tool_ids: z.string().optional().describe('comma-separated tool ids'),
  visibility: z.enum(['private', 'public']).optional(),
});

/** Reads a multipart upload (one file plus optional fields) into the same shape as the JSON body. */
async function readUpload(req: FastifyRequest): Promise<z.output<typeof createDocumentSchema> & { file_name: string }> {
  const fields: Record<string, string> = {};
  let file: { name: string; contentType: (typeof UPLOAD_EXTENSIONS)[string]; content: Buffer } | undefined;
  try {
    for await (const part of req.parts()) {
      if (part.type === 'file') {
        if (file) throw new DomainError(ErrorCode.VALIDATION_FAILED, 'send exactly one file per upload');
        const extension = extname(part.filename).toLowerCase();
        const contentType = UPLOAD_EXTENSIONS[extension];
        if (!contentType) {
          part.file.resume();
          throw new DomainError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            `files of type '${extension || part.filename}' are not accepted: upload ${ACCEPTED}`,
          );
        }
        file = { name: part.filename, contentType, content: await part.toBuffer() };
      } else if (typeof part.value === 'string') fields[part.fieldname] = part.value;
    }
  } catch (err) {
    if (err instanceof DomainError) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'FST_REQ_FILE_TOO_LARGE')
      throw new DomainError(ErrorCode.PAYLOAD_TOO_LARGE, 'the file is larger than the document size limit (KNOWLEDGE_MAX_DOCUMENT_BYTES)');
    throw new DomainError(ErrorCode.MALFORMED_REQUEST, `could not read the multipart upload: ${(err as Error).message}`);
  }
  if (!file) throw new DomainError(ErrorCode.VALIDATION_FAILED, "the upload has no file: send it in a form field named 'file'");
  let body: string;
  try {
    body = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(file.content);
  } catch {
    throw new DomainError(ErrorCode.VALIDATION_FAILED, `${file.name} is not UTF-8 text`);
  }
  const list = (v: string | undefined) =>
    v === undefined
      ? undefined
      : v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  const stem = file.name.slice(0, file.name.length - extname(file.name).length) || file.name;
  const parsed = parseOrThrow(
    createDocumentSchema,
    {
      title: fields.title ?? documentTitleFrom(body, stem),
      body,
      content_type: file.contentType,
      tags: list(fields.tags),
      tool_ids: list(fields.tool_ids),
      visibility: fields.visibility,
    },
    'body',
  );
  return { ...parsed, file_name: file.name.slice(0, 255) };
}

/**
 * Knowledge documents and search. Route-level permissions here (viewers read and search,
 * maintainers add documents); ownership and visibility of each document are enforced by the
 * knowledge service.
 */
@ApiTags('knowledge')
@ApiAuth()
@Controller('api/v1/knowledge')
export class KnowledgeController {
  constructor(@Inject(RpcClient) private readonly rpc: RpcClient) {}

  @Post('documents')
  @RequirePermission('knowledge.write')
  @ApiOperation({ summary: `Add a document: a JSON body, or a multipart upload of one ${ACCEPTED} file` })
  @ApiConsumes('application/json', 'multipart/form-data')
  @ApiBody({
    schema: {
      oneOf: [openApiSchema(createDocumentSchema), { ...openApiSchema(uploadFormSchema), description: 'multipart/form-data' }],
    },
  })
  @ApiReply(201, documentSchema)
  @ApiErrors(400, 403, 413, 415, 422, 504)
  async create(@Req() req: FastifyRequest, @CurrentPrincipal() p: Principal) {
    const document = req.isMultipart()
      ? { ...(await readUpload(req)), source: 'upload' as const }
      : { ...parseOrThrow(createDocumentSchema, req.body, 'body'), source: 'api' as const };
    return this.rpc.send(P.KNOWLEDGE_DOCUMENT_CREATE, document, { actor: toActor(p), timeoutMs: WRITE_TIMEOUT_MS });
  }

  @Get('documents')
  @RequirePermission('knowledge.read')
  @ApiOperation({ summary: 'List the documents you can see (newest first; filter by tag, tool, source, owner)' })
  @ApiReply(200, documentPageSchema)
  @ApiErrors(400, 504)
  list(@ValidQuery(listDocumentsQuerySchema) query: z.output<typeof listDocumentsQuerySchema>, @CurrentPrincipal() p: Principal) {
    return this.rpc.send(P.KNOWLEDGE_DOCUMENT_LIST, query, { actor: toActor(p) });
  }

  @Get('documents/:doc_id')
  @RequirePermission('knowledge.read')
  @ApiOperation({ summary: 'A document with its body and chunks' })
  @ApiReply(200, documentSchema)
  @ApiErrors(400, 404, 504)
  get(@Param('doc_id') id: string, @CurrentPrincipal() p: Principal) {
    return this.rpc.send(P.KNOWLEDGE_DOCUMENT_GET, { document_id: documentId(id) }, { actor: toActor(p) });
  }

  @Put('documents/:doc_id')
  @RequirePermission('knowledge.write')
  @ApiOperation({ summary: 'Change a document (owner or admin); a new body is re-chunked and re-embedded' })
  @ApiReply(200, documentSchema)
  @ApiErrors(400, 403, 404, 409, 413, 422, 504)
  update(
    @Param('doc_id') id: string,
    @ValidBody(updateDocumentSchema) changes: z.output<typeof updateDocumentSchema>,
    @CurrentPrincipal() p: Principal,
  ) {
    return this.rpc.send(
      P.KNOWLEDGE_DOCUMENT_UPDATE,
      { document_id: documentId(id), changes },
      { actor: toActor(p), timeoutMs: WRITE_TIMEOUT_MS },
    );
  }

  @Delete('documents/:doc_id')
  @RequirePermission('knowledge.write')
  @ApiOperation({ summary: 'Delete a document (owner or admin)' })
  @ApiReply(200, z.object({ id: z.string(), deleted: z.literal(true) }))
  @ApiErrors(400, 403, 404, 504)
  remove(@Param('doc_id') id: string, @CurrentPrincipal() p: Principal) {
    return this.rpc.send(P.KNOWLEDGE_DOCUMENT_DELETE, { document_id: documentId(id) }, { actor: toActor(p) });
  }

  @Post('search')
  @RequirePermission('knowledge.read')
  @ApiOperation({
    summary: 'Search the documents you can see: ranked chunks with highlighted snippets; says whether text or hybrid search ran',
  })
  @ApiReply(200, searchResponseSchema)
  @ApiErrors(400, 504)
  search(@ValidBody(searchRequestSchema) body: z.output<typeof searchRequestSchema>, @CurrentPrincipal() p: Principal) {
    return this.rpc.send(P.KNOWLEDGE_SEARCH, body, { actor: toActor(p) });
  }
}
