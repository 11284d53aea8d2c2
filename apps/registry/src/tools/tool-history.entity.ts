import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** Every change to a tool: who, when, what (as a JSON diff). Append-only. */
@Entity({ name: 'tool_history' })
@Index('idx_tool_history_tool', ['toolId', 'at'])
export class ToolHistory {
  @PrimaryColumn({ type: 'char', length: 36 })
  id!: string;

  @Column({ name: 'tool_id', type: 'char', length: 36 })
  toolId!: string;

  @Column({ type: 'varchar', length: 50 })
  action!: string;

  @Column({ name: 'actor_id', type: 'char', length: 36, nullable: true })
  actorId!: string | null;

  @Column({ type: 'datetime', precision: 6 })
  at!: Date;

  @Column({ type: 'json', nullable: true })
  diff!: object | null;

  /** The request that made the change (the gateway's request id); null for entries from before it was recorded. */
  @Column({ name: 'request_id', type: 'varchar', length: 128, nullable: true })
  requestId!: string | null;
}
