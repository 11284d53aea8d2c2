import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { LaunchConfig, Manifest } from '#contracts';

/** Immutable once written, except for yanking (which never removes it). */
@Entity({ name: 'tool_versions' })
@Index('uq_tool_versions_version', ['toolId', 'version'], { unique: true })
export class ToolVersion {
  @PrimaryColumn({ type: 'char', length: 36 })
  id!: string;

  @Column({ name: 'tool_id', type: 'char', length: 36 })
  toolId!: string;

  @Column({ type: 'varchar', length: 100 })
  version!: string;

  @Column({ type: 'text' })
  changelog!: string;

  @Column({ type: 'json' })
  config!: LaunchConfig;

  @Column({ type: 'json', nullable: true })
  manifest!: Manifest | null;

  @Column({ type: 'char', length: 64 })
  sha256!: string;

  @Column({ type: 'boolean', default: false })
  yanked!: boolean;

  @Column({ name: 'yank_reason', type: 'text', nullable: true })
  yankReason!: string | null;

  @Column({ name: 'published_by', type: 'char', length: 36 })
  publishedBy!: string;

  @Column({ name: 'published_at', type: 'datetime', precision: 6 })
  publishedAt!: Date;
}
