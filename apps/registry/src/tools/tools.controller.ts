import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { ErrorCode, RpcPattern as P, type Actor, type RpcData } from '#contracts';
import { DomainError, isAdmin, requireActor, RpcActor, RpcPayloadPipe } from '#common';
import { ConfigWatcherService } from '../import-export/config-watcher.service';
import { ImportExportService } from '../import-export/import-export.service';
import { ToolsService } from './tools.service';

/** The registry's RPC surface: one handler per `registry.*` pattern of the contracts. */
@Controller()
export class ToolsController {
  constructor(
    @Inject(ToolsService) private readonly tools: ToolsService,
    @Inject(ImportExportService) private readonly importExport: ImportExportService,
    @Inject(ConfigWatcherService) private readonly configWatcher: ConfigWatcherService,
  ) {}

  @MessagePattern(P.REGISTRY_CONFIG_RELOAD)
  reload(@Payload(new RpcPayloadPipe(P.REGISTRY_CONFIG_RELOAD)) _req: RpcData<typeof P.REGISTRY_CONFIG_RELOAD>, @RpcActor() actor?: Actor) {
    if (!isAdmin(requireActor(actor))) throw new DomainError(ErrorCode.FORBIDDEN, 'Only an admin may reload the config directory');
    return this.configWatcher.reload('api');
  }

  @MessagePattern(P.REGISTRY_CONFIG_STATUS)
  configStatus(
    @Payload(new RpcPayloadPipe(P.REGISTRY_CONFIG_STATUS)) _req: RpcData<typeof P.REGISTRY_CONFIG_STATUS>,
    @RpcActor() actor?: Actor,
  ) {
    requireActor(actor);
    return this.configWatcher.status();
  }

  @MessagePattern(P.REGISTRY_TOOLS_IMPORT)
  import(@Payload(new RpcPayloadPipe(P.REGISTRY_TOOLS_IMPORT)) req: RpcData<typeof P.REGISTRY_TOOLS_IMPORT>, @RpcActor() actor?: Actor) {
    const { idempotency_key, ...request } = req;
    return this.importExport.import(request, requireActor(actor), idempotency_key);
  }

  @MessagePattern(P.REGISTRY_TOOLS_EXPORT)
  export(@Payload(new RpcPayloadPipe(P.REGISTRY_TOOLS_EXPORT)) req: RpcData<typeof P.REGISTRY_TOOLS_EXPORT>, @RpcActor() actor?: Actor) {
    return this.importExport.export(req.format, req.tool_id, requireActor(actor), { version: req.version, namespace: req.namespace });
  }

  @MessagePattern(P.REGISTRY_TOOLS_EXPORT_PAGE)
  exportPage(
    @Payload(new RpcPayloadPipe(P.REGISTRY_TOOLS_EXPORT_PAGE)) req: RpcData<typeof P.REGISTRY_TOOLS_EXPORT_PAGE>,
    @RpcActor() actor?: Actor,
  ) {
    return this.importExport.exportPage(req.format, req.after, req.limit, requireActor(actor), req.namespace);
  }

  @MessagePattern(P.REGISTRY_TOOL_CREATE)
  create(@Payload(new RpcPayloadPipe(P.REGISTRY_TOOL_CREATE)) req: RpcData<typeof P.REGISTRY_TOOL_CREATE>, @RpcActor() actor?: Actor) {
    return this.tools.create(req.tool, requireActor(actor), req.idempotency_key);
  }

  @MessagePattern(P.REGISTRY_TOOL_LIST)
  list(@Payload(new RpcPayloadPipe(P.REGISTRY_TOOL_LIST)) req: RpcData<typeof P.REGISTRY_TOOL_LIST>, @RpcActor() actor?: Actor) {
    return this.tools.list(req, requireActor(actor));
  }

  @MessagePattern(P.REGISTRY_TOOL_GET)
  get(@Payload(new RpcPayloadPipe(P.REGISTRY_TOOL_GET)) req: RpcData<typeof P.REGISTRY_TOOL_GET>, @RpcActor() actor?: Actor) {
    return this.tools.get(req.tool_id, requireActor(actor));
  }

  @MessagePattern(P.REGISTRY_TOOL_UPDATE)
  update(@Payload(new RpcPayloadPipe(P.REGISTRY_TOOL_UPDATE)) req: RpcData<typeof P.REGISTRY_TOOL_UPDATE>, @RpcActor() actor?: Actor) {
    return this.tools.update(req.tool_id, req.changes, requireActor(actor), req.if_match);
  }

  @MessagePattern(P.REGISTRY_TOOL_DELETE)
  remove(@Payload(new RpcPayloadPipe(P.REGISTRY_TOOL_DELETE)) req: RpcData<typeof P.REGISTRY_TOOL_DELETE>, @RpcActor() actor?: Actor) {
    return this.tools.remove(req.tool_id, requireActor(actor));
  }

  @MessagePattern(P.REGISTRY_TOOL_RESTORE)
  restore(@Payload(new RpcPayloadPipe(P.REGISTRY_TOOL_RESTORE)) req: RpcData<typeof P.REGISTRY_TOOL_RESTORE>, @RpcActor() actor?: Actor) {
    return this.tools.restore(req.tool_id, requireActor(actor));
  }

  @MessagePattern(P.REGISTRY_TOOL_TRANSFER)
  transfer(
    @Payload(new RpcPayloadPipe(P.REGISTRY_TOOL_TRANSFER)) req: RpcData<typeof P.REGISTRY_TOOL_TRANSFER>,
    @RpcActor() actor?: Actor,
  ) {
    return this.tools.transfer(req.tool_id, req.owner, req.target, requireActor(actor), req.if_match);
  }

  @MessagePattern(P.REGISTRY_TOOL_HISTORY)
  history(@Payload(new RpcPayloadPipe(P.REGISTRY_TOOL_HISTORY)) req: RpcData<typeof P.REGISTRY_TOOL_HISTORY>, @RpcActor() actor?: Actor) {
    return this.tools.historyOf(req.tool_id, req, requireActor(actor));
  }

  @MessagePattern(P.REGISTRY_VERSION_PUBLISH)
  publish(
    @Payload(new RpcPayloadPipe(P.REGISTRY_VERSION_PUBLISH)) req: RpcData<typeof P.REGISTRY_VERSION_PUBLISH>,
    @RpcActor() actor?: Actor,
  ) {
    return this.tools.publish(req.tool_id, req.input, requireActor(actor), req.idempotency_key);
  }

  @MessagePattern(P.REGISTRY_VERSION_LIST)
  versions(@Payload(new RpcPayloadPipe(P.REGISTRY_VERSION_LIST)) req: RpcData<typeof P.REGISTRY_VERSION_LIST>, @RpcActor() actor?: Actor) {
    return this.tools.versions(req.tool_id, req, requireActor(actor));
  }

  @MessagePattern(P.REGISTRY_VERSION_GET)
  version(@Payload(new RpcPayloadPipe(P.REGISTRY_VERSION_GET)) req: RpcData<typeof P.REGISTRY_VERSION_GET>, @RpcActor() actor?: Actor) {
    return this.tools.version(req.tool_id, req.version, requireActor(actor));
  }

  @MessagePattern(P.REGISTRY_VERSION_DIFF)
  diff(@Payload(new RpcPayloadPipe(P.REGISTRY_VERSION_DIFF)) req: RpcData<typeof P.REGISTRY_VERSION_DIFF>, @RpcActor() actor?: Actor) {
    return this.tools.diff(req.tool_id, req.from, req.to, requireActor(actor));
  }

  @MessagePattern(P.REGISTRY_VERSION_YANK)
  yank(@Payload(new RpcPayloadPipe(P.REGISTRY_VERSION_YANK)) req: RpcData<typeof P.REGISTRY_VERSION_YANK>, @RpcActor() actor?: Actor) {
    const r = req;
    return this.tools.yank(r.tool_id, r.version, r.reason, requireActor(actor));
  }

  @MessagePattern(P.REGISTRY_LATEST_PIN)
  pin(@Payload(new RpcPayloadPipe(P.REGISTRY_LATEST_PIN)) req: RpcData<typeof P.REGISTRY_LATEST_PIN>, @RpcActor() actor?: Actor) {
    return this.tools.pin(req.tool_id, req.version, requireActor(actor));
  }

  @MessagePattern(P.REGISTRY_VERSION_UNYANK)
  unyank(
    @Payload(new RpcPayloadPipe(P.REGISTRY_VERSION_UNYANK)) req: RpcData<typeof P.REGISTRY_VERSION_UNYANK>,
    @RpcActor() actor?: Actor,
  ) {
    return this.tools.unyank(req.tool_id, req.version, requireActor(actor));
  }

  @MessagePattern(P.REGISTRY_LATEST_UNPIN)
  unpin(@Payload(new RpcPayloadPipe(P.REGISTRY_LATEST_UNPIN)) req: RpcData<typeof P.REGISTRY_LATEST_UNPIN>, @RpcActor() actor?: Actor) {
    return this.tools.pin(req.tool_id, null, requireActor(actor));
  }
}
