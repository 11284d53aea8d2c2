import { Controller, Inject } from '@nestjs/common';
import { ErrorCode, RpcPattern as P, type Actor, type RpcData } from '#contracts';
import { DomainError, isAdmin, requireActor, RpcHandler } from '#common';
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

  @RpcHandler(P.REGISTRY_CONFIG_RELOAD)
  reload(_req: RpcData<typeof P.REGISTRY_CONFIG_RELOAD>, actor: Actor | undefined) {
    if (!isAdmin(requireActor(actor))) throw new DomainError(ErrorCode.FORBIDDEN, 'Only an admin may reload the config directory');
    return this.configWatcher.reload('api');
  }

  @RpcHandler(P.REGISTRY_CONFIG_STATUS)
  configStatus(_req: RpcData<typeof P.REGISTRY_CONFIG_STATUS>, actor: Actor | undefined) {
    requireActor(actor);
    return this.configWatcher.status();
  }

  @RpcHandler(P.REGISTRY_TOOLS_IMPORT)
  import(req: RpcData<typeof P.REGISTRY_TOOLS_IMPORT>, actor: Actor | undefined) {
    const { idempotency_key, ...request } = req;
    return this.importExport.import(request, requireActor(actor), idempotency_key);
  }

  @RpcHandler(P.REGISTRY_TOOLS_EXPORT)
  export(req: RpcData<typeof P.REGISTRY_TOOLS_EXPORT>, actor: Actor | undefined) {
    return this.importExport.export(req.format, req.tool_id, requireActor(actor), { version: req.version, namespace: req.namespace });
  }

  @RpcHandler(P.REGISTRY_TOOLS_EXPORT_PAGE)
  exportPage(req: RpcData<typeof P.REGISTRY_TOOLS_EXPORT_PAGE>, actor: Actor | undefined) {
    return this.importExport.exportPage(req.format, req.after, req.limit, requireActor(actor), req.namespace);
  }

  @RpcHandler(P.REGISTRY_TOOL_CREATE)
  create(req: RpcData<typeof P.REGISTRY_TOOL_CREATE>, actor: Actor | undefined) {
    return this.tools.create(req.tool, requireActor(actor), req.idempotency_key);
  }

  @RpcHandler(P.REGISTRY_TOOL_LIST)
  list(req: RpcData<typeof P.REGISTRY_TOOL_LIST>, actor: Actor | undefined) {
    return this.tools.list(req, requireActor(actor));
  }

  @RpcHandler(P.REGISTRY_TOOL_GET)
  get(req: RpcData<typeof P.REGISTRY_TOOL_GET>, actor: Actor | undefined) {
    return this.tools.get(req.tool_id, requireActor(actor));
  }

  @RpcHandler(P.REGISTRY_TOOL_UPDATE)
  update(req: RpcData<typeof P.REGISTRY_TOOL_UPDATE>, actor: Actor | undefined) {
    return this.tools.update(req.tool_id, req.changes, requireActor(actor), req.if_match);
  }

  @RpcHandler(P.REGISTRY_TOOL_DELETE)
  remove(req: RpcData<typeof P.REGISTRY_TOOL_DELETE>, actor: Actor | undefined) {
    return this.tools.remove(req.tool_id, requireActor(actor));
  }

  @RpcHandler(P.REGISTRY_TOOL_RESTORE)
  restore(req: RpcData<typeof P.REGISTRY_TOOL_RESTORE>, actor: Actor | undefined) {
    return this.tools.restore(req.tool_id, requireActor(actor));
  }

  @RpcHandler(P.REGISTRY_TOOL_TRANSFER)
  transfer(req: RpcData<typeof P.REGISTRY_TOOL_TRANSFER>, actor: Actor | undefined) {
    return this.tools.transfer(req.tool_id, req.owner, req.target, requireActor(actor), req.if_match);
  }

  @RpcHandler(P.REGISTRY_TOOL_HISTORY)
  history(req: RpcData<typeof P.REGISTRY_TOOL_HISTORY>, actor: Actor | undefined) {
    return this.tools.historyOf(req.tool_id, req, requireActor(actor));
  }

  @RpcHandler(P.REGISTRY_VERSION_PUBLISH)
  publish(req: RpcData<typeof P.REGISTRY_VERSION_PUBLISH>, actor: Actor | undefined) {
    return this.tools.publish(req.tool_id, req.input, requireActor(actor), req.idempotency_key);
  }

  @RpcHandler(P.REGISTRY_VERSION_LIST)
  versions(req: RpcData<typeof P.REGISTRY_VERSION_LIST>, actor: Actor | undefined) {
    return this.tools.versions(req.tool_id, req, requireActor(actor));
  }

  @RpcHandler(P.REGISTRY_VERSION_GET)
  version(req: RpcData<typeof P.REGISTRY_VERSION_GET>, actor: Actor | undefined) {
    return this.tools.version(req.tool_id, req.version, requireActor(actor));
  }

  @RpcHandler(P.REGISTRY_VERSION_DIFF)
  diff(req: RpcData<typeof P.REGISTRY_VERSION_DIFF>, actor: Actor | undefined) {
    return this.tools.diff(req.tool_id, req.from, req.to, requireActor(actor));
  }

  @RpcHandler(P.REGISTRY_VERSION_YANK)
  yank(req: RpcData<typeof P.REGISTRY_VERSION_YANK>, actor: Actor | undefined) {
    const r = req;
    return this.tools.yank(r.tool_id, r.version, r.reason, requireActor(actor));
  }

  @RpcHandler(P.REGISTRY_LATEST_PIN)
  pin(req: RpcData<typeof P.REGISTRY_LATEST_PIN>, actor: Actor | undefined) {
    return this.tools.pin(req.tool_id, req.version, requireActor(actor));
  }

  @RpcHandler(P.REGISTRY_VERSION_UNYANK)
  unyank(req: RpcData<typeof P.REGISTRY_VERSION_UNYANK>, actor: Actor | undefined) {
    return this.tools.unyank(req.tool_id, req.version, requireActor(actor));
  }

  @RpcHandler(P.REGISTRY_LATEST_UNPIN)
  unpin(req: RpcData<typeof P.REGISTRY_LATEST_UNPIN>, actor: Actor | undefined) {
    return this.tools.pin(req.tool_id, null, requireActor(actor));
  }
}
