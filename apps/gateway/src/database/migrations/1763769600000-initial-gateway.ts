import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Users, sessions (refresh tokens), API keys, audit log and the event outbox. Runs on MySQL 8 and MariaDB 10.11. */
export class InitialGateway1763769600000 implements MigrationInterface {
  name = 'InitialGateway1763769600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE \`users\` (
      \`id\` char(36) NOT NULL,
      \`username\` varchar(64) NOT NULL,
      \`email\` varchar(254) NOT NULL,
      \`password_hash\` varchar(255) NOT NULL,
      \`role\` varchar(16) NOT NULL,
      \`disabled\` tinyint NOT NULL DEFAULT 0,
      \`token_version\` int NOT NULL DEFAULT 0,
      \`created_at\` datetime(6) NOT NULL,
      \`updated_at\` datetime(6) NOT NULL,
      UNIQUE INDEX \`uq_users_username\` (\`username\`),
      UNIQUE INDEX \`uq_users_email\` (\`email\`),
      PRIMARY KEY (\`id\`)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
    await q.query(`CREATE TABLE \`refresh_tokens\` (
      \`id\` char(36) NOT NULL,
      \`user_id\` char(36) NOT NULL,
      \`family_id\` char(36) NOT NULL,
      \`token_hash\` char(64) NOT NULL,
      \`expires_at\` datetime(6) NOT NULL,
      \`created_at\` datetime(6) NOT NULL,
      \`used_at\` datetime(6) NULL,
      \`revoked_at\` datetime(6) NULL,
      \`revoked_reason\` varchar(64) NULL,
      UNIQUE INDEX \`uq_refresh_tokens_hash\` (\`token_hash\`),
      INDEX \`idx_refresh_tokens_family\` (\`family_id\`),
      INDEX \`idx_refresh_tokens_user\` (\`user_id\`),
      PRIMARY KEY (\`id\`)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
    await q.query(`CREATE TABLE \`api_keys\` (
      \`id\` char(36) NOT NULL,
      \`user_id\` char(36) NOT NULL,
      \`name\` varchar(100) NOT NULL,
      \`prefix\` char(8) NOT NULL,
      \`key_hash\` char(64) NOT NULL,
      \`scopes\` json NOT NULL,
      \`created_at\` datetime(6) NOT NULL,
      \`expires_at\` datetime(6) NULL,
      \`last_used_at\` datetime(6) NULL,
      \`revoked_at\` datetime(6) NULL,
      UNIQUE INDEX \`uq_api_keys_hash\` (\`key_hash\`),
      INDEX \`idx_api_keys_user\` (\`user_id\`),
      PRIMARY KEY (\`id\`)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
    await q.query(`CREATE TABLE \`audit_log\` (
      \`id\` char(36) NOT NULL,
      \`actor_id\` char(36) NULL,
      \`actor_type\` varchar(16) NOT NULL,
      \`action\` varchar(100) NOT NULL,
      \`entity_type\` varchar(50) NOT NULL,
      \`entity_id\` varchar(128) NULL,
      \`details\` json NULL,
      \`request_id\` varchar(128) NULL,
      \`ip\` varchar(64) NULL,
      \`created_at\` datetime(6) NOT NULL,
      INDEX \`idx_audit_created\` (\`created_at\`),
      INDEX \`idx_audit_actor\` (\`actor_id\`, \`created_at\`),
      INDEX \`idx_audit_entity\` (\`entity_type\`, \`entity_id\`),
      PRIMARY KEY (\`id\`)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
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
    for (const t of ['outbox', 'audit_log', 'api_keys', 'refresh_tokens', 'users']) await q.query(`DROP TABLE \`${t}\``);
  }
}
