import { Controller, Delete, Get, Inject, Param, Post, Req } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { parseOrThrow } from '#common';
import { ApiKeyService } from '../api-keys/api-key.service';
import { ApiAuth, ApiErrors, ApiReply } from '../http/openapi';
import { uuidParam, ValidBody } from '../http/validation';
import { AuthService } from './auth.service';
import {
  apiKeySchema,
  changePasswordSchema,
  createApiKeySchema,
  createdApiKeySchema,
  loginSchema,
  logoutSchema,
  refreshSchema,
  registerSchema,
  tokenPairSchema,
  userSchema,
} from './auth.schemas';
import { CurrentPrincipal, JwtOnly, Public, RequirePermission, type Principal } from './principal';
import { UsersService, userView } from '../users/users.service';
import { APP_CONFIG, DomainError, type AppConfig } from '#common';
import { ErrorCode } from '#contracts';

const keyIdSchema = uuidParam('key_id');

@ApiTags('auth')
@Controller('api/v1/auth')
export class AuthController {
  constructor(
    @Inject(AuthService) private readonly auth: AuthService,
    @Inject(UsersService) private readonly users: UsersService,
    @Inject(ApiKeyService) private readonly apiKeys: ApiKeyService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post('register')
  @Public()
  @ApiOperation({ summary: 'Create an account (role viewer)' })
  @ApiReply(201, userSchema, 'The new user (never the password hash)')
  @ApiErrors(400, 403, 409, 429)
  register(@ValidBody(registerSchema) body: z.output<typeof registerSchema>, @Req() req: FastifyRequest) {
    if (!this.config.allowSelfRegistration) {
      throw new DomainError(ErrorCode.FORBIDDEN, 'Self-registration is disabled on this platform; ask an administrator for an account');
    }
    return this.users.create({ ...body, role: 'viewer' }, { anonymous: true }, req.ip);
  }

  @Post('login')
  @Public()
  @ApiOperation({ summary: 'Log in with username or email and password' })
  @ApiReply(200, tokenPairSchema)
  @ApiErrors(400, 401, 403, 429)
  login(@ValidBody(loginSchema) body: z.output<typeof loginSchema>, @Req() req: FastifyRequest) {
    return this.auth.login(body.username, body.password, req.ip);
  }

  @Post('refresh')
  @Public()
  @ApiOperation({ summary: 'Exchange a refresh token for a new token pair (the old refresh token is used up)' })
  @ApiReply(200, tokenPairSchema)
  @ApiErrors(400, 401, 429)
  refresh(@ValidBody(refreshSchema) body: z.output<typeof refreshSchema>, @Req() req: FastifyRequest) {
    return this.auth.refresh(body.refresh_token, req.ip);
  }

  @Post('logout')
  @RequirePermission('profile.read')
  @ApiAuth()
  @ApiOperation({ summary: 'End this login: its refresh tokens and access tokens stop working at once' })
  @ApiReply(204)
  @ApiErrors(400)
  async logout(@ValidBody(logoutSchema) body: z.output<typeof logoutSchema>, @CurrentPrincipal() principal: Principal) {
    await this.auth.logout(principal, body?.refresh_token);
  }

  @Get('me')
  @RequirePermission('profile.read')
  @ApiAuth()
  @ApiOperation({ summary: 'The authenticated user' })
  @ApiReply(200, userSchema)
  me(@CurrentPrincipal() principal: Principal) {
    return userView(principal.user);
  }

  @Post('password')
  @JwtOnly()
  @RequirePermission('profile.write')
  @ApiAuth()
  @ApiOperation({ summary: 'Change password; ends every session of the user' })
  @ApiReply(204)
  @ApiErrors(400)
  async changePassword(
    @ValidBody(changePasswordSchema) body: z.output<typeof changePasswordSchema>,
    @CurrentPrincipal() principal: Principal,
  ) {
    await this.auth.changePassword(principal, body.current_password, body.new_password);
  }

  @Post('api-keys')
  @JwtOnly()
  @RequirePermission('profile.write')
  @ApiAuth()
  @ApiOperation({ summary: 'Create an API key; the key is shown once, in this response' })
  @ApiReply(201, createdApiKeySchema)
  @ApiErrors(400)
  createApiKey(@ValidBody(createApiKeySchema) body: z.output<typeof createApiKeySchema>, @CurrentPrincipal() principal: Principal) {
    return this.apiKeys.create(principal, body);
  }

  @Get('api-keys')
  @RequirePermission('profile.read')
  @ApiAuth()
  @ApiOperation({ summary: "The caller's API keys (never the secrets)" })
  @ApiReply(200, z.object({ items: z.array(apiKeySchema) }))
  async listApiKeys(@CurrentPrincipal() principal: Principal) {
    return { items: await this.apiKeys.list(principal) };
  }

  @Delete('api-keys/:key_id')
  @JwtOnly()
  @RequirePermission('profile.write')
  @ApiAuth()
  @ApiOperation({ summary: 'Revoke an API key (admins: any key)' })
  @ApiReply(204)
  @ApiErrors(400, 404)
  async revokeApiKey(@Param('key_id') keyId: string, @CurrentPrincipal() principal: Principal) {
    await this.apiKeys.revoke(principal, parseOrThrow(keyIdSchema, keyId, 'key_id'));
  }
}
