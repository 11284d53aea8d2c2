import { Controller, Get, Inject, Param, Patch, Post, Req } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { parseOrThrow } from '#common';
import { emailSchema, passwordSchema, roleSchema, userSchema, usernameSchema } from '../auth/auth.schemas';
import { CurrentPrincipal, RequirePermission, type Principal } from '../auth/principal';
import { ApiAuth, ApiErrors, ApiReply } from '../http/openapi';
import { paginatedSchema, paginationQuery, uuidParam, ValidBody, ValidQuery } from '../http/validation';
import { UsersService } from './users.service';

const userIdSchema = uuidParam('user_id');

const listUsersQuery = paginationQuery.extend({
  role: roleSchema.optional(),
  q: z.string().max(100).optional().describe('substring of username or email'),
});
const createUserSchema = z.strictObject({ username: usernameSchema, email: emailSchema, password: passwordSchema, role: roleSchema });
const updateUserSchema = z
  .strictObject({ role: roleSchema.optional(), disabled: z.boolean().optional() })
  .refine((v) => v.role !== undefined || v.disabled !== undefined, { message: 'give role and/or disabled' });

@ApiTags('users')
@ApiAuth()
@Controller('api/v1/users')
export class UsersController {
  constructor(@Inject(UsersService) private readonly users: UsersService) {}

  @Get()
  @RequirePermission('users.read')
  @ApiOperation({ summary: 'List users (admin)' })
  @ApiReply(200, paginatedSchema(userSchema))
  @ApiErrors(400)
  list(@ValidQuery(listUsersQuery) query: z.output<typeof listUsersQuery>) {
    return this.users.list(query);
  }

  @Post()
  @RequirePermission('users.manage')
  @ApiOperation({ summary: 'Create a user with a role (admin)' })
  @ApiReply(201, userSchema)
  @ApiErrors(400, 409)
  create(
    @ValidBody(createUserSchema) body: z.output<typeof createUserSchema>,
    @CurrentPrincipal() actor: Principal,
    @Req() req: FastifyRequest,
  ) {
    return this.users.create(body, actor, req.ip);
  }

  @Get(':user_id')
  @RequirePermission('users.read')
  @ApiOperation({ summary: 'One user (admin)' })
  @ApiReply(200, userSchema)
  @ApiErrors(400, 404)
  get(@Param('user_id') id: string) {
    return this.users.get(parseOrThrow(userIdSchema, id, 'user_id'));
  }

  @Patch(':user_id')
  @RequirePermission('users.manage')
  @ApiOperation({ summary: 'Change role and/or disable a user (admin); disabling ends all their sessions' })
  @ApiReply(200, userSchema)
  @ApiErrors(400, 404, 409)
  update(
    @Param('user_id') id: string,
    @ValidBody(updateUserSchema) body: z.output<typeof updateUserSchema>,
    @CurrentPrincipal() actor: Principal,
  ) {
    return this.users.update(parseOrThrow(userIdSchema, id, 'user_id'), body, actor);
  }
}
