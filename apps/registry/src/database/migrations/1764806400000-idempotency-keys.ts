import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The answers to changes sent with an Idempotency-Key (see IdempotencyRecord). Runs on MySQL 8 and MariaDB 10.11. */
export class IdempotencyKeys1764806400000 implements MigrationInterface {
  name = 'IdempotencyKeys1764806400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE \`idempotency_keys\` (
      \`id\` char(64) NOT NULL,
      \`fingerprint\` char(64) NOT NULL,
      \`operation\` varchar(64) NOT NULL,
      \`answer\` json NOT NULL,
      \`created_at\` datetime(6) NOT NULL,
      INDEX \`idx_idempotency_keys_created\` (\`created_at\`),
      PRIMARY KEY (\`id\`)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE `idempotency_keys`');
  }
}
