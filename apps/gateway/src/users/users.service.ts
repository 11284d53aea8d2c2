import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource, IsNull, type EntityManager } from 'typeorm';
import { ErrorCode, EventKey } from '#contracts';
import { APP_CONFIG, type AppConfig, DomainError, duplicateKeyIndex, insertRow, JsonLogger, OutboxService } from '#common';
import { AuditService } from '../audit/audit.service';
import { AuthStateService, toUserState, type UserState } from '../auth/auth-state.service';
import { PasswordService } from '../auth/password.service';
import type { Principal } from '../auth/principal';
import type { Role } from '../auth/rbac';
import { RefreshToken } from '../auth/refresh-token.entity';
import { User } from './user.entity';

export type UserView = Omit<UserState, 'token_version'>;

/** What the API shows of a user (never the password hash or token version). */
export function userView(u: UserState): UserView {
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    role: u.role,
    disabled: u.disabled,
    created_at: u.created_at,
    updated_at: u.updated_at,
  };
}

@Injectable()
export class UsersService implements OnApplicationBootstrap {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(PasswordService) private readonly passwords: PasswordService,
    @Inject(AuthStateService) private readonly authState: AuthStateService,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(OutboxService) private readonly outbox: OutboxService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(JsonLogger) private readonly logger: JsonLogger,
  ) {}

  /** Creates a user; a taken username or email is a 409 naming the field. */
  async create(
    input: { username: string; email: string; password: string; role: Role },
    actor: Principal | { system: true } | { anonymous: true },
    ip?: string,
  ): Promise<UserView> {
    const username = input.username.toLowerCase();
    const email = input.email.toLowerCase();
    if (input.password.toLowerCase().includes(username)) {
      throw new DomainError(ErrorCode.VALIDATION_FAILED, 'Invalid body.password: must not contain the username', [
        { field: 'password', message: 'must not contain the username' },
      ]);
    }
    const now = new Date();
    const user: User = {
      id: randomUUID(),
      username,
      email,
      passwordHash: await this.passwords.hash(input.password),
      role: input.role,
      disabled: false,
      tokenVersion: 0,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await this.dataSource.transaction(async (m) => {
        await insertRow(m, User, user);
        await this.audit.record(
          { actor, action: 'user.created', entityType: 'user', entityId: user.id, details: { username, role: user.role }, ip },
          m,
        );
        await this.outbox.add(m, EventKey.USER_CREATED, { user_id: user.id, username, role: user.role });
      });
    } catch (err) {
      const index = duplicateKeyIndex(err);
      if (index !== undefined) {
        const field = index === 'uq_users_email' ? 'email' : 'username';
        throw new DomainError(ErrorCode.CONFLICT, `A user with this ${field} already exists`, { field });
      }
      throw err;
    }
    this.outbox.nudge();
    return userView(toUserState(user));
  }

  async get(id: string): Promise<UserView> {
    const u = await this.dataSource.getRepository(User).findOneBy({ id });
    if (!u) throw DomainError.notFound('User', id);
    return userView(toUserState(u));
  }

  /** A user by id or by username (case-insensitive, as names are stored), or null: whom a tool is transferred to. */
  async findByIdOrUsername(ref: string): Promise<UserView | null> {
    const rows = await this.dataSource.getRepository(User).find({ where: [{ id: ref }, { username: ref.toLowerCase() }], take: 2 });
    // An id names one user exactly; it wins over a username that happens to read the same.
    const u = rows.find((r) => r.id === ref) ?? rows[0];
    return u ? userView(toUserState(u)) : null;
  }

  async list(q: { page: number; page_size: number; role?: Role; q?: string }) {
    const qb = this.dataSource.getRepository(User).createQueryBuilder('u').orderBy('u.created_at', 'ASC').addOrderBy('u.id', 'ASC');
    if (q.role) qb.andWhere('u.role = :role', { role: q.role });
    if (q.q) qb.andWhere('(u.username LIKE :q OR u.email LIKE :q)', { q: `%${q.q.toLowerCase().replace(/[\\%_]/g, (c) => '\\' + c)}%` });
    const [rows, total] = await qb
      .skip((q.page - 1) * q.page_size)
      .take(q.page_size)
      .getManyAndCount();
    return { items: rows.map((u) => userView(toUserState(u))), total, page: q.page, page_size: q.page_size };
  }

  /** Changes role and/or disabled flag. Disabling ends every session at once. The last active admin cannot be demoted or disabled. */
  async update(id: string, changes: { role?: Role; disabled?: boolean }, actor: Principal): Promise<UserView> {
    const updated = await this.dataSource.transaction(async (m) => {
      const user = await m.getRepository(User).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!user) throw DomainError.notFound('User', id);
      const losesAdmin =
        user.role === 'admin' && !user.disabled && ((changes.role && changes.role !== 'admin') || changes.disabled === true);
      if (losesAdmin) {
        // Lock the active admins so two concurrent demotions cannot both pass this check.
        const admins = await m
          .createQueryBuilder(User, 'u')
          .select('u.id')
          .where('u.role = :role AND u.disabled = :disabled', { role: 'admin', disabled: false })
          .setLock('pessimistic_write')
          .getMany();
        if (admins.length <= 1) throw new DomainError(ErrorCode.CONFLICT, 'Cannot demote or disable the last active admin');
      }
      const diff: Record<string, unknown> = {};
      if (changes.role !== undefined && changes.role !== user.role) diff.role = { from: user.role, to: changes.role };
      if (changes.disabled !== undefined && changes.disabled !== user.disabled)
        diff.disabled = { from: user.disabled, to: changes.disabled };
      if (!Object.keys(diff).length) return user;
      user.role = changes.role ?? user.role;
      if (changes.disabled !== undefined) user.disabled = changes.disabled;
      if (changes.disabled === true) user.tokenVersion += 1;
      user.updatedAt = new Date();
      await m.save(User, user);
      if (changes.disabled === true) await this.revokeAllRefreshTokens(m, id, 'user_disabled');
      await this.audit.record({ actor, action: 'user.updated', entityType: 'user', entityId: id, details: diff }, m);
      await this.outbox.add(m, EventKey.USER_UPDATED, {
        user_id: id,
        changes: { role: diff.role ? user.role : undefined, disabled: diff.disabled ? user.disabled : undefined },
      });
      return user;
    });
    await this.authState.invalidateUser(id);
    this.outbox.nudge();
    return userView(toUserState(updated));
  }

  /** Revokes every live refresh token of a user; returns the session (family) ids revoked. */
  async revokeAllRefreshTokens(m: EntityManager, userId: string, reason: string): Promise<string[]> {
    const live = await m.getRepository(RefreshToken).find({ where: { userId, revokedAt: IsNull() }, select: { familyId: true } });
    await m.update(RefreshToken, { userId, revokedAt: IsNull() }, { revokedAt: new Date(), revokedReason: reason });
    const families = [...new Set(live.map((t) => t.familyId))];
    await this.authState.revokeSessions(families);
    return families;
  }

  /** First start: create the admin from BOOTSTRAP_ADMIN_* when no admin exists yet. */
  async onApplicationBootstrap(): Promise<void> {
    const admin = this.config.bootstrapAdmin;
    if (!admin) return;
    const existing = await this.dataSource.getRepository(User).count({ where: { role: 'admin' } });
    if (existing > 0) return;
    try {
      const created = await this.create({ ...admin, role: 'admin' }, { system: true });
      this.logger.log({ msg: 'bootstrap admin created', user_id: created.id, username: created.username }, 'UsersService');
    } catch (err) {
      // Another gateway instance may have created it at the same moment.
      if (err instanceof DomainError && err.code === ErrorCode.CONFLICT) return;
      this.logger.error(
        { msg: 'could not create the bootstrap admin', err: err instanceof DomainError ? err.message : String(err) },
        'UsersService',
      );
      throw err;
    }
  }
}
