import { Controller, Get, Inject, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { configStatusSchema, RpcPattern as P } from '#contracts';
import { RpcClient } from '#common';
import { CurrentPrincipal, RequirePermission, toActor, type Principal } from '../auth/principal';
import { ApiAuth, ApiErrors, ApiReply } from '../http/openapi';

/** The registry's watched config directory (MCP_CONFIG_WATCH_PATH on the registry service). */
@ApiTags('registry')
@ApiAuth()
@Controller('api/v1/mcp')
export class McpConfigController {
  constructor(@Inject(RpcClient) private readonly rpc: RpcClient) {}

  @Post('reload')
  @RequirePermission('tools.admin')
  @ApiOperation({ summary: 'Re-import the watched .mcp.json files now (admin)' })
  @ApiReply(200, configStatusSchema)
  @ApiErrors(422, 503, 504)
  reload(@CurrentPrincipal() p: Principal) {
    return this.rpc.send(P.REGISTRY_CONFIG_RELOAD, {}, { actor: toActor(p), timeoutMs: 30_000 });
  }

  @Get('status')
  @RequirePermission('tools.admin')
  @ApiOperation({ summary: 'The result of the last reload of the watched config directory (admin)' })
  @ApiReply(200, configStatusSchema)
  @ApiErrors(504)
  status(@CurrentPrincipal() p: Principal) {
    return this.rpc.send(P.REGISTRY_CONFIG_STATUS, {}, { actor: toActor(p) });
  }
}
