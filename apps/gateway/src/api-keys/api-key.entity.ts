import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { Scope } from '../auth/rbac';

@Entity({ name: 'api_keys' })
@Index('uq_api_keys_hash', ['keyHash'], { unique: true })
@Index('idx_api_keys_user', ['userId'])
export class ApiKey {
  @PrimaryColumn({ type: 'char', length: 36 })
  id!: string;

  @Column({ name: 'user_id', type: 'char', length: 36 })
  userId!: string;

  @Column({ type: 'varchar', length: 100 })
  name!: string;

  @Column({ type: 'char', length: 8 })
  prefix!: string;

  @Column({ name: 'key_hash', type: 'char', length: 64 })
  keyHash!: string;

  @Column({ type: 'json' })
  scopes!: Scope[];

  @Column({ name: 'created_at', type: 'datetime', precision: 6 })
  createdAt!: Date;

  @Column({ name: 'expires_at', type: 'datetime', precision: 6, nullable: true })
  expiresAt!: Date | null;

  @Column({ name: 'last_used_at', type: 'datetime', precision: 6, nullable: true })
  lastUsedAt!: Date | null;

  @Column({ name: 'revoked_at', type: 'datetime', precision: 6, nullable: true })
  revokedAt!: Date | null;
}
