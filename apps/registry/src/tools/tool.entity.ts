import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

@Entity({ name: 'tools' })
@Index('uq_tools_name', ['name'], { unique: true })
@Index('idx_tools_owner', ['ownerId'])
@Index('idx_tools_updated', ['updatedAt'])
export class Tool {
  @PrimaryColumn({ type: 'char', length: 36 })
  id!: string;

  /** Unique regardless of case (the column's collation is case-insensitive). */
  @Column({ type: 'varchar', length: 200 })
  name!: string;

  @Column({ name: 'display_name', type: 'varchar', length: 200, nullable: true })
  displayName!: string | null;

  @Column({ type: 'text' })
  description!: string;

  @Column({ name: 'owner_id', type: 'char', length: 36 })
  ownerId!: string;

  @Column({ type: 'json' })
  tags!: string[];

  @Column({ type: 'varchar', length: 100, nullable: true })
  category!: string | null;

  @Column({ name: 'homepage_url', type: 'varchar', length: 2048, nullable: true })
  homepageUrl!: string | null;

  @Column({ name: 'repository_url', type: 'varchar', length: 2048, nullable: true })
  repositoryUrl!: string | null;

  @Column({ type: 'varchar', length: 16 })
  visibility!: 'private' | 'public';

  @Column({ type: 'varchar', length: 16 })
  status!: 'active' | 'deprecated';

  /** Set when a maintainer pinned `latest` to an earlier version (rollback). */
  @Column({ name: 'pinned_version', type: 'varchar', length: 100, nullable: true })
  pinnedVersion!: string | null;

  /** The version `latest` resolves to (pinned, else the highest not yanked); kept up to date on every change. */
  @Column({ name: 'latest_version', type: 'varchar', length: 100, nullable: true })
  latestVersion!: string | null;

  /** The highest version ever published (yanked or not): a new one must be higher. */
  @Column({ name: 'highest_version', type: 'varchar', length: 100, nullable: true })
  highestVersion!: string | null;

  @Column({ name: 'created_at', type: 'datetime', precision: 6 })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'datetime', precision: 6 })
  updatedAt!: Date;

  @Column({ name: 'deleted_at', type: 'datetime', precision: 6, nullable: true })
  deletedAt!: Date | null;
}
