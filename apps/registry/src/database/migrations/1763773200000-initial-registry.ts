import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Tools, their immutable versions, their history, and the event outbox. Runs on MySQL 8 and MariaDB 10.11. */
export class InitialRegistry1763773200000 implements MigrationInterface {
  name = 'InitialRegistry1763773200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE \`tools\` (
      \`id\` char(36) NOT NULL,
      \`name\` varchar(200) NOT NULL,
      \`display_name\` varchar(200) NULL,
      \`description\` text NOT NULL,
      \`owner_id\` char(36) NOT NULL,
      \`tags\` json NOT NULL,
      \`category\` varchar(100) NULL,
      \`homepage_url\` varchar(2048) NULL,
      \`repository_url\` varchar(2048) NULL,
      \`visibility\` varchar(16) NOT NULL,
      \`status\` varchar(16) NOT NULL,
      \`pinned_version\` varchar(100) NULL,
      \`latest_version\` varchar(100) NULL,
      \`highest_version\` varchar(100) NULL,
      \`created_at\` datetime(6) NOT NULL,
      \`updated_at\` datetime(6) NOT NULL,
      \`deleted_at\` datetime(6) NULL,
      UNIQUE INDEX \`uq_tools_name\` (\`name\`),
      INDEX \`idx_tools_owner\` (\`owner_id\`),
      INDEX \`idx_tools_updated\` (\`updated_at\`),
      PRIMARY KEY (\`id\`)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`CREATE TABLE \`tool_versions\` (
      \`id\` char(36) NOT NULL,
      \`tool_id\` char(36) NOT NULL,
      \`version\` varchar(100) NOT NULL,
      \`changelog\` text NOT NULL,
      \`config\` json NOT NULL,
      \`manifest\` json NULL,
      \`sha256\` char(64) NOT NULL,
      \`yanked\` tinyint NOT NULL DEFAULT 0,
      \`yank_reason\` text NULL,
      \`published_by\` char(36) NOT NULL,
      \`published_at\` datetime(6) NOT NULL,
      UNIQUE INDEX \`uq_tool_versions_version\` (\`tool_id\`, \`version\`),
      PRIMARY KEY (\`id\`)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`CREATE TABLE \`tool_history\` (
      \`id\` char(36) NOT NULL,
      \`tool_id\` char(36) NOT NULL,
      \`action\` varchar(50) NOT NULL,
      \`actor_id\` char(36) NULL,
      \`at\` datetime(6) NOT NULL,
      \`diff\` json NULL,
      INDEX \`idx_tool_history_tool\` (\`tool_id\`, \`at\`),
      PRIMARY KEY (\`id\`)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`CREATE TABLE \`outbox\` (
      \`id\` char(36) NOT NULL,
      \`routing_key\` varchar(200) NOT NULL,
      \`payload\` json NOT NULL,
      \`request_id\` varchar(128) NULL,
      \`created_at\` datetime(6) NOT NULL,
      \`published_at\` datetime(6) NULL,
      \`attempts\` int NOT NULL DEFAULT 0,
      \`last_error\` text NULL,
      INDEX \`idx_outbox_pending\` (\`published_at\`, \`created_at\`),
      PRIMARY KEY (\`id\`)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['outbox', 'tool_history', 'tool_versions', 'tools']) await q.query(`DROP TABLE \`${t}\``);
  }
}
