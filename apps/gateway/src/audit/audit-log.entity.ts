import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** Who did what, when, to which entity. Append-only. */
@Entity({ name: 'audit_log' })
@Index('idx_audit_created', ['createdAt'])
@Index('idx_audit_actor', ['actorId', 'createdAt'])
@Index('idx_audit_entity', ['entityType', 'entityId'])
export class AuditLog {
  @PrimaryColumn({ type: 'char', length: 36 })
  id!: string;

  @Column({ name: 'actor_id', type: 'char', length: 36, nullable: true })
  actorId!: string | null;

  /** user (JWT), api_key, or system (bootstrap, background work). */
  @Column({ name: 'actor_type', type: 'varchar', length: 16 })
  actorType!: 'user' | 'api_key' | 'system' | 'anonymous';

  @Column({ type: 'varchar', length: 100 })
  action!: string;

  @Column({ name: 'entity_type', type: 'varchar', length: 50 })
  entityType!: string;

  @Column({ name: 'entity_id', type: 'varchar', length: 128, nullable: true })
  entityId!: string | null;

  @Column({ type: 'json', nullable: true })
  details!: object | null;

  @Column({ name: 'request_id', type: 'varchar', length: 128, nullable: true })
  requestId!: string | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  ip!: string | null;

  @Column({ name: 'created_at', type: 'datetime', precision: 6 })
  createdAt!: Date;
}
