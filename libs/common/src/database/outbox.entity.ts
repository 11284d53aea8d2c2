import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** Events written in the same transaction as the change they describe; a relay publishes them. */
@Entity({ name: 'outbox' })
@Index('idx_outbox_pending', ['publishedAt', 'createdAt'])
export class OutboxMessage {
  @PrimaryColumn({ type: 'char', length: 36 })
  id!: string;

  @Column({ name: 'routing_key', type: 'varchar', length: 200 })
  routingKey!: string;

  @Column({ type: 'json' })
  payload!: unknown;

  @Column({ name: 'request_id', type: 'varchar', length: 128, nullable: true })
  requestId!: string | null;

  @Column({ name: 'created_at', type: 'datetime', precision: 6 })
  createdAt!: Date;

  @Column({ name: 'published_at', type: 'datetime', precision: 6, nullable: true })
  publishedAt!: Date | null;

  @Column({ type: 'int', default: 0 })
  attempts!: number;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;
}
