import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * The answer to a change sent with an Idempotency-Key, written in the change's own transaction:
 * a repeat of the request (a client's retry, or the broker's redelivery after a crash) finds it
 * and is answered the same, so the change is never made twice. Kept `IDEMPOTENCY_KEY_TTL_S`.
 */
@Entity({ name: 'idempotency_keys' })
@Index('idx_idempotency_keys_created', ['createdAt'])
export class IdempotencyRecord {
  /** SHA-256 (hex) of the caller's user id and key: keys are the caller's own, and never stored as sent. */
  @PrimaryColumn({ type: 'char', length: 64 })
  id!: string;

  /** SHA-256 (hex) of the operation and its canonical request: the same key with another request is refused. */
  @Column({ type: 'char', length: 64 })
  fingerprint!: string;

  @Column({ type: 'varchar', length: 64 })
  operation!: string;

  /** The answer given. */
  @Column({ type: 'json' })
  answer!: object;

  @Column({ name: 'created_at', type: 'datetime', precision: 6 })
  createdAt!: Date;

  /** The request that made the change (the gateway's request id): its redelivery is answered as its own, not as a replay. */
  @Column({ name: 'request_id', type: 'varchar', length: 128, nullable: true })
  requestId!: string | null;
}
