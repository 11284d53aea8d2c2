import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * History entries and Idempotency-Key records name the request that made the change (the
 * gateway's request id, as in its logs and audit log). That is also how a request RabbitMQ
 * delivers again, after the registry died between its COMMIT and its answer, finds the change it
 * already made and is answered as its first delivery would have been. Earlier rows have none. No
 * index: both are read with rows found by another key (one tool's history, one key's record). Runs
 * on MySQL 8 and MariaDB 10.11.
 */
export class RequestIds1764979200000 implements MigrationInterface {
  name = 'RequestIds1764979200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE `tool_history` ADD `request_id` varchar(128) NULL');
    await q.query('ALTER TABLE `idempotency_keys` ADD `request_id` varchar(128) NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE `idempotency_keys` DROP COLUMN `request_id`');
    await q.query('ALTER TABLE `tool_history` DROP COLUMN `request_id`');
  }
}
