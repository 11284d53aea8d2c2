import {
  applyDecorators,
  Controller,
  Delete,
  Get,
  Inject,
  Injectable,
  Param,
  Post,
  Put,
  Req,
  Res,
  UseInterceptors,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Readable } from 'node:stream';
import { map, type Observable } from 'rxjs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  createToolSchema,
  historyPageSchema,
  exportNamespaceSchema,
  idempotencyKeySchema,
  importFormatSchema,
  importReportSchema,
  importRequestSchema,
  listToolsQuerySchema,
  pageQuerySchema,
  publishVersionSchema,
  RegistryRequests,
  RpcPattern as P,
  toolPageSchema,
  toolSchema,
  transferToolSchema,
  updateToolSchema,
  versionDiffSchema,
  versionPageSchema,
  versionSchema,
} from '#contracts';
import { APP_CONFIG, etagOf, JsonLogger, notModified, parseOrThrow, requestContext, RpcClient, type AppConfig } from '#common';
import { CurrentPrincipal, RequirePermission, toActor, type Principal } from '../auth/principal';
import { ApiAuth, ApiErrors, ApiReply } from '../http/openapi';
import { uuidParam, ValidBody, ValidQuery } from '../http/validation';
import { UsersService } from '../users/users.service';
import { exportDocument } from './export-document';
import { RegistryCacheService } from './registry-cache.service';
import type { ToolReadRequest } from './tool-read.fast-path';

// Schemas built once: building a zod schema costs more than using it.
const toolIdSchema = uuidParam('tool_id');
const versionParamSchema = z.string().min(1).max(100);
const toolId = (id: string) => parseOrThrow(toolIdSchema, id, 'tool_id');
const versionParam = (v: string) => parseOrThrow(versionParamSchema, v, 'version');
const diffQuery = z.strictObject({
  from: z.string().min(1).max(100).describe('older version (or "latest")'),
  to: z.string().min(1).max(100).describe('newer version (or "latest")'),
});
const yankBody = RegistryRequests.yank.pick({ reason: true });
const pinBody = z.strictObject({ version: z.string().min(1).max(100) });
const exportFields = { format: importFormatSchema.default('mcp-servers'), namespace: exportNamespaceSchema.optional() };
/** A namespace names server.json's names: with the mcpServers format it would be ignored, so it is refused. */
const namespaceOnlyForServerJson = (q: { format: string; namespace?: string }) => q.namespace === undefined || q.format === 'server-json';
const namespaceRule = { message: 'applies to format=server-json only', path: ['namespace'] };
const exportQuery = z.strictObject(exportFields).refine(namespaceOnlyForServerJson, namespaceRule);
const exportOneQuery = z
  .strictObject({
    ...exportFields,
    version: versionParamSchema.optional().describe('a version, or "latest" (the default): a rollback\'s config, say'),
  })
  .refine(namespaceOnlyForServerJson, namespaceRule);

/**
 * A change made only if the tool is still as the caller's If-Match (if any) tags it, answered
 * with the changed tool's new tag, so that a client can make its next change conditional on this one.
 */
async function conditionalChange<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  change: (ifMatch: { if_match?: string }) => Promise<T>,
): Promise<T> {
  const ifMatch = request.headers['if-match'];
  const tool = await change(ifMatch !== undefined ? { if_match: ifMatch } : {});
  void reply.header('etag', etagOf(JSON.stringify(tool)));
  return tool;
}

/** The request's Idempotency-Key header (checked: a 400 names it), for the changes that honour one. */
function idempotencyKey(request: FastifyRequest): { idempotency_key?: string } {
  const key = request.headers['idempotency-key'];
  return key === undefined ? {} : { idempotency_key: parseOrThrow(idempotencyKeySchema, key, 'header Idempotency-Key') };
}

/**
 * The answer of a change that honours an Idempotency-Key. When it is the recorded answer of an
 * earlier request with the same key, it says so in `Idempotent-Replayed: true` (as Stripe's API
 * does): a client then knows this request changed nothing, and the body is the first answer's.
 */
@Injectable()
class ReplayedHeader implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler<{ idempotent_replay?: true }>): Observable<object> {
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    return next.handle().pipe(
      map(({ idempotent_replay: replayed, ...body }) => {
        if (replayed) void reply.header('idempotent-replayed', 'true');
        return body;
      }),
    );
  }
}

/** The response header of a replayed answer, in the OpenAPI document. */
const REPLAYED_HEADER = {
  'Idempotent-Replayed': {
    description:
      "'true' when this is the recorded answer of an earlier request with the same Idempotency-Key (nothing was changed by this one); absent otherwise",
  },
};

const IDEMPOTENCY_KEY_HEADER = {
  name: 'Idempotency-Key',
  required: false,
  description:
    'Any unique text (a UUID, say; up to 255 visible ASCII characters) identifying this request: a repeat with the same key and body (a retry after a timeout or a lost answer) gets the first answer and changes nothing; with another body it is a 422. Kept IDEMPOTENCY_KEY_TTL_S (default 24 h), per user; only successful answers are kept.',
};

/** A change that honours an Idempotency-Key: both headers in the OpenAPI document, and the replay header on replays. */
function Idempotent(status: number, schema: z.ZodType) {
  return applyDecorators(
    ApiHeader(IDEMPOTENCY_KEY_HEADER),
    ApiReply(status, schema, 'Success', REPLAYED_HEADER),
    UseInterceptors(ReplayedHeader),
  );
}

/**
 * MCP tools in the registry. Route-level permissions here (viewers read, maintainers write, admins
 * restore); ownership and visibility of each tool are enforced by the registry service.
 */
@ApiTags('registry')
@ApiAuth()
@Controller('api/v1/mcps')
export class ToolsController {
  constructor(
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(RegistryCacheService) private readonly cache: RegistryCacheService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(JsonLogger) private readonly logger: JsonLogger,
    @Inject(UsersService) private readonly users: UsersService,
  ) {}

  @Post()
  @RequirePermission('tools.write')
  @ApiOperation({ summary: 'Register a tool (you become its owner)' })
  @Idempotent(201, toolSchema)
  @ApiErrors(400, 409, 422, 504)
  create(
    @ValidBody(createToolSchema) body: z.output<typeof createToolSchema>,
    @CurrentPrincipal() p: Principal,
    @Req() request: FastifyRequest,
  ) {
    return this.rpc.send(P.REGISTRY_TOOL_CREATE, { tool: body, ...idempotencyKey(request) }, { actor: toActor(p) });
  }

  @Get()
  @RequirePermission('tools.read')
  @ApiOperation({ summary: 'List the tools you can see (paginated, filterable, sortable)' })
  @ApiReply(200, toolPageSchema)
  @ApiErrors(400, 504)
  list(@ValidQuery(listToolsQuerySchema) query: z.output<typeof listToolsQuerySchema>, @CurrentPrincipal() p: Principal) {
    return this.cache.list(query, toActor(p));
  }

  @Post('import')
  @RequirePermission('tools.write')
  @ApiOperation({
    summary: 'Import an mcpServers JSON (Claude Desktop, .mcp.json) or a server.json; all-or-nothing, dry_run reports without writing',
  })
  @Idempotent(200, importReportSchema)
  @ApiErrors(400, 409, 422, 504)
  import(
    @ValidBody(importRequestSchema) body: z.output<typeof importRequestSchema>,
    @CurrentPrincipal() p: Principal,
    @Req() request: FastifyRequest,
  ) {
    return this.rpc.send(P.REGISTRY_TOOLS_IMPORT, { ...body, ...idempotencyKey(request) }, { actor: toActor(p), timeoutMs: 30_000 });
  }

  @Get('export')
  @RequirePermission('tools.read')
  @ApiOperation({ summary: 'Export the latest versions of every tool you can see (mcpServers JSON or server.json list)' })
  @ApiReply(200, z.record(z.string(), z.unknown()))
  @ApiErrors(400, 504)
  async exportAll(
    @ValidQuery(exportQuery) q: z.output<typeof exportQuery>,
    @CurrentPrincipal() p: Principal,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const actor = toActor(p);
    const context = requestContext.get() ?? { requestId: String(request.id) };
    // Each page runs in the request's context, so its RPC carries the request id like any other.
    const page = (after?: string) =>
      requestContext.run(context, () =>
        this.rpc.send(
          P.REGISTRY_TOOLS_EXPORT_PAGE,
          { format: q.format, namespace: q.namespace, after, limit: this.config.exportPageSize },
          { actor, timeoutMs: 30_000 },
        ),
      );
    // The first page is read before anything is sent: a failure there is an ordinary error answer.
    const first = await page();
    const body = Readable.from(exportDocument(q.format, first, page)).on('error', (err: unknown) =>
      // After the first byte the status is sent: the connection is cut, so the client cannot take a
      // partial document for a whole one.
      this.logger.error(
        { msg: 'export stream failed; connection closed', request_id: context.requestId, err: String(err) },
        'ToolsController',
      ),
    );
    await reply.type('application/json; charset=utf-8').send(body);
  }

  @Get(':tool_id/export')
  @RequirePermission('tools.read')
  @ApiOperation({ summary: "Export one tool's latest version, or the one named by ?version= (mcpServers JSON or server.json)" })
  @ApiReply(200, z.record(z.string(), z.unknown()))
  @ApiErrors(400, 404, 504)
  exportOne(
    @Param('tool_id') id: string,
    @ValidQuery(exportOneQuery) q: z.output<typeof exportOneQuery>,
    @CurrentPrincipal() p: Principal,
  ) {
    return this.rpc.send(
      P.REGISTRY_TOOLS_EXPORT,
      { format: q.format, namespace: q.namespace, tool_id: toolId(id), version: q.version },
      { actor: toActor(p) },
    );
  }

  @Get(':tool_id')
  @RequirePermission('tools.read')
  @ApiOperation({ summary: 'One tool (with an ETag: send it back in If-None-Match for a 304 while it is unchanged)' })
  @ApiReply(200, toolSchema)
  @ApiResponse({ status: 304, description: 'Not modified: the tool is as tagged by If-None-Match' })
  @ApiErrors(400, 404, 504)
  async get(
    @Param('tool_id') id: string,
    @CurrentPrincipal() p: Principal,
    @Req() request: ToolReadRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    // Hits the caller may see are answered by the fast path (tool-read.fast-path.ts); its lookup of this same tool is reused here.
    const tool = await this.cache.tool(toolId(id), toActor(p), request.toolLookup);
    // The text answered is JSON.stringify(tool), as the fast path's cached text is: the same tag either way.
    const etag = etagOf(JSON.stringify(tool));
    void reply.header('etag', etag);
    if (notModified(request.headers['if-none-match'], etag)) {
      void reply.code(304);
      return undefined;
    }
    return tool;
  }

  @Put(':tool_id')
  @RequirePermission('tools.write')
  @ApiOperation({
    summary:
      "Change a tool's metadata (owner or admin); status deprecated marks it deprecated. With If-Match (the ETag of your read), only if nobody changed it since (412 otherwise)",
  })
  @ApiReply(200, toolSchema)
  @ApiErrors(400, 404, 409, 412, 504)
  async update(
    @Param('tool_id') id: string,
    @ValidBody(updateToolSchema) body: z.output<typeof updateToolSchema>,
    @CurrentPrincipal() p: Principal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    return conditionalChange(request, reply, (ifMatch) =>
      this.rpc.send(P.REGISTRY_TOOL_UPDATE, { tool_id: toolId(id), changes: body, ...ifMatch }, { actor: toActor(p) }),
    );
  }

  @Post(':tool_id/transfer')
  @RequirePermission('tools.write')
  @ApiOperation({
    summary:
      'Hand a tool to another maintainer or admin (owner or admin), e.g. when its owner leaves; recorded in history. With If-Match, only if nobody changed it since your read (412 otherwise)',
  })
  @ApiReply(200, toolSchema)
  @ApiErrors(400, 404, 409, 412, 422, 504)
  async transfer(
    @Param('tool_id') id: string,
    @ValidBody(transferToolSchema) body: z.output<typeof transferToolSchema>,
    @CurrentPrincipal() p: Principal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const tool_id = toolId(id);
    // The users live here; the registry decides (tool first, then the user) with what is found.
    const user = await this.users.findByIdOrUsername(body.owner);
    return conditionalChange(request, reply, (ifMatch) =>
      this.rpc.send(
        P.REGISTRY_TOOL_TRANSFER,
        {
          tool_id,
          owner: body.owner,
          target: user && { user_id: user.id, username: user.username, role: user.role, disabled: user.disabled },
          ...ifMatch,
        },
        { actor: toActor(p) },
      ),
    );
  }

  @Delete(':tool_id')
  @RequirePermission('tools.write')
  @ApiOperation({ summary: 'Soft-delete a tool (owner or admin): hidden from everyone but admins, who can read and restore it' })
  @ApiReply(200, toolSchema)
  @ApiErrors(400, 404, 409, 504)
  remove(@Param('tool_id') id: string, @CurrentPrincipal() p: Principal) {
    return this.rpc.send(P.REGISTRY_TOOL_DELETE, { tool_id: toolId(id) }, { actor: toActor(p) });
  }

  @Post(':tool_id/restore')
  @RequirePermission('tools.admin')
  @ApiOperation({ summary: 'Restore a soft-deleted tool (admin)' })
  @ApiReply(200, toolSchema)
  @ApiErrors(400, 404, 409, 504)
  restore(@Param('tool_id') id: string, @CurrentPrincipal() p: Principal) {
    return this.rpc.send(P.REGISTRY_TOOL_RESTORE, { tool_id: toolId(id) }, { actor: toActor(p) });
  }

  @Get(':tool_id/history')
  @RequirePermission('tools.read')
  @ApiOperation({ summary: 'Every change to the tool, oldest first (paginated): who, when, and a JSON diff' })
  @ApiReply(200, historyPageSchema)
  @ApiErrors(400, 404, 504)
  history(
    @Param('tool_id') id: string,
    @ValidQuery(pageQuerySchema) q: z.output<typeof pageQuerySchema>,
    @CurrentPrincipal() p: Principal,
  ) {
    return this.rpc.send(P.REGISTRY_TOOL_HISTORY, { tool_id: toolId(id), ...q }, { actor: toActor(p) });
  }

  @Post(':tool_id/versions')
  @RequirePermission('tools.write')
  @ApiOperation({ summary: 'Publish an immutable version (semver, higher than every earlier one)' })
  @Idempotent(201, versionSchema)
  @ApiErrors(400, 404, 409, 422, 504)
  publish(
    @Param('tool_id') id: string,
    @ValidBody(publishVersionSchema) body: z.output<typeof publishVersionSchema>,
    @CurrentPrincipal() p: Principal,
    @Req() request: FastifyRequest,
  ) {
    return this.rpc.send(
      P.REGISTRY_VERSION_PUBLISH,
      { tool_id: toolId(id), input: body, ...idempotencyKey(request) },
      { actor: toActor(p) },
    );
  }

  @Get(':tool_id/versions')
  @RequirePermission('tools.read')
  @ApiOperation({ summary: 'The versions, highest first (paginated; yanked ones flagged)' })
  @ApiReply(200, versionPageSchema)
  @ApiErrors(400, 404, 504)
  versions(
    @Param('tool_id') id: string,
    @ValidQuery(pageQuerySchema) q: z.output<typeof pageQuerySchema>,
    @CurrentPrincipal() p: Principal,
  ) {
    return this.rpc.send(P.REGISTRY_VERSION_LIST, { tool_id: toolId(id), ...q }, { actor: toActor(p) });
  }

  @Get(':tool_id/versions/:version')
  @RequirePermission('tools.read')
  @ApiOperation({ summary: 'One version ("latest" resolves to the current latest)' })
  @ApiReply(200, versionSchema)
  @ApiErrors(400, 404, 504)
  version(@Param('tool_id') id: string, @Param('version') version: string, @CurrentPrincipal() p: Principal) {
    return this.rpc.send(P.REGISTRY_VERSION_GET, { tool_id: toolId(id), version: versionParam(version) }, { actor: toActor(p) });
  }

  @Get(':tool_id/diff')
  @RequirePermission('tools.read')
  @ApiOperation({ summary: 'What changed between two versions; changed tool descriptions/schemas are flagged' })
  @ApiReply(200, versionDiffSchema)
  @ApiErrors(400, 404, 504)
  diff(@Param('tool_id') id: string, @ValidQuery(diffQuery) q: z.output<typeof diffQuery>, @CurrentPrincipal() p: Principal) {
    return this.rpc.send(P.REGISTRY_VERSION_DIFF, { tool_id: toolId(id), from: q.from, to: q.to }, { actor: toActor(p) });
  }

  @Delete(':tool_id/versions/:version/yank')
  @RequirePermission('tools.write')
  @ApiOperation({
    summary: 'Take a yank back (owner or admin): the version may be latest again, and is if it is the highest and latest is not pinned',
  })
  @ApiReply(200, versionSchema)
  @ApiErrors(400, 404, 409, 504)
  unyank(@Param('tool_id') id: string, @Param('version') version: string, @CurrentPrincipal() p: Principal) {
    return this.rpc.send(P.REGISTRY_VERSION_UNYANK, { tool_id: toolId(id), version: versionParam(version) }, { actor: toActor(p) });
  }

  @Post(':tool_id/versions/:version/yank')
  @RequirePermission('tools.write')
  @ApiOperation({ summary: 'Yank a version: still readable, flagged, never chosen as latest' })
  @ApiReply(200, versionSchema)
  @ApiErrors(400, 404, 409, 504)
  yank(
    @Param('tool_id') id: string,
    @Param('version') version: string,
    @ValidBody(yankBody) body: z.output<typeof yankBody>,
    @CurrentPrincipal() p: Principal,
  ) {
    return this.rpc.send(
      P.REGISTRY_VERSION_YANK,
      { tool_id: toolId(id), version: versionParam(version), reason: body.reason },
      { actor: toActor(p) },
    );
  }

  @Put(':tool_id/latest')
  @RequirePermission('tools.write')
  @ApiOperation({ summary: 'Pin latest to an earlier version (rollback)' })
  @ApiReply(200, toolSchema)
  @ApiErrors(400, 404, 409, 504)
  pin(@Param('tool_id') id: string, @ValidBody(pinBody) body: z.output<typeof pinBody>, @CurrentPrincipal() p: Principal) {
    return this.rpc.send(P.REGISTRY_LATEST_PIN, { tool_id: toolId(id), version: body.version }, { actor: toActor(p) });
  }

  @Delete(':tool_id/latest')
  @RequirePermission('tools.write')
  @ApiOperation({ summary: 'Unpin latest: it follows the highest published version again' })
  @ApiReply(200, toolSchema)
  @ApiErrors(400, 404, 409, 504)
  unpin(@Param('tool_id') id: string, @CurrentPrincipal() p: Principal) {
    return this.rpc.send(P.REGISTRY_LATEST_UNPIN, { tool_id: toolId(id) }, { actor: toActor(p) });
  }
}
