/**
 * Sets up the hand-built write pipeline (raw-write.ts) for a bench run, in the run's namespace: its
 * database (the run's prefix), queues and Redis keys go with the run's cleanup.
 */
import type { Connection } from 'mysql2/promise';
import { createHmac, randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { AppConfig } from '#common';
import { freePort, REPO_ROOT } from '../platform';

/** Names in the run's namespace: the request queue, the events' exchange and queue, the Redis key and channel. */
export function rawWriteNames(namespace: string) {
  const queue = `${namespace}.raw-write`;
  return {
    queue,
    exchange: `${queue}.events`,
    eventQueue: `${queue}.events.front`,
    generationKey: `${namespace}:raw-write:generation`,
    channel: `${namespace}:raw-write:notices`,
  };
}

/** The raw pipeline's tables: the registry's four, as its migration creates them (columns that matter for the write). */
export const RAW_WRITE_SCHEMA = [
  `CREATE TABLE tools (id char(36) NOT NULL, name varchar(200) NOT NULL, owner_id char(36) NOT NULL,
    pinned_version varchar(100) NULL, latest_version varchar(100) NULL, highest_version varchar(100) NULL,
    created_at datetime(6) NOT NULL, updated_at datetime(6) NOT NULL, UNIQUE INDEX uq_tools_name (name), PRIMARY KEY (id)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
  `CREATE TABLE tool_versions (id char(36) NOT NULL, tool_id char(36) NOT NULL, version varchar(100) NOT NULL,
    changelog text NOT NULL, config json NOT NULL, manifest json NULL, sha256 char(64) NOT NULL,
    yanked tinyint NOT NULL DEFAULT 0, yank_reason text NULL, published_by char(36) NOT NULL, published_at datetime(6) NOT NULL,
    UNIQUE INDEX uq_tool_versions_version (tool_id, version), PRIMARY KEY (id)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
  `CREATE TABLE tool_history (id char(36) NOT NULL, tool_id char(36) NOT NULL, action varchar(50) NOT NULL,
    actor_id char(36) NULL, at datetime(6) NOT NULL, diff json NULL, INDEX idx_tool_history_tool (tool_id, at), PRIMARY KEY (id)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
  `CREATE TABLE outbox (id char(36) NOT NULL, routing_key varchar(200) NOT NULL, payload json NOT NULL,
    request_id varchar(128) NULL, created_at datetime(6) NOT NULL, published_at datetime(6) NULL,
    attempts int NOT NULL DEFAULT 0, last_error text NULL, INDEX idx_outbox_pending (published_at, created_at), PRIMARY KEY (id)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
];

/** An HS256 token for the front, as the gateway's are signed. */
export function rawWriteToken(secret: string, subject: string): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: subject, exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

export interface RawWrite {
  url: string;
  /** `authorization` header for the front. */
  auth: Record<string, string>;
  /** Path and body of the next publish: a valid, strictly higher version of the next tool, as the platform's bench publishes. */
  nextPublish: () => { path: string; body: string };
  /** Queues to delete with the run's cleanup. */
  queues: string[];
  stop(): void;
}

function startRole(args: string[], env: Record<string, string>): Promise<ChildProcess> {
  // The secret and the URLs go by environment, not on the command line (visible to `ps`).
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist/libs/testing/src/bench/raw-write.js'), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  return new Promise((ok, fail) => {
    child.stdout.on('data', (b: Buffer) => /listening|ready/.test(b.toString()) && ok(child));
    child.once('exit', (code) => fail(new Error(`raw-write ${args[0]} exited with ${code}`)));
  });
}

/**
 * Creates the pipeline's database (with the run's prefix) and `tools` tool rows, then starts the
 * worker and the front, each in its own process as the registry and the gateway run.
 */
export async function startRawWrite(config: AppConfig, mysqlConn: Connection, tools: number): Promise<RawWrite> {
  const database = `${config.mysql.databasePrefix}raw_write`;
  await mysqlConn.query(`CREATE DATABASE \`${database}\``);
  for (const statement of RAW_WRITE_SCHEMA) await mysqlConn.query(statement.replace('CREATE TABLE ', `CREATE TABLE \`${database}\`.`));
  const ids = Array.from({ length: tools }, () => randomUUID());
  const owner = randomUUID();
  await mysqlConn.query(`INSERT INTO \`${database}\`.tools (id, name, owner_id, created_at, updated_at) VALUES ?`, [
    ids.map((id, i) => [id, `raw-write-${i}`, owner, new Date(), new Date()]),
  ]);
  const secret = randomUUID() + randomUUID();
  const { host, port, user, password } = config.mysql;
  const mysqlUrl = `mysql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}/${database}`;
  const env = {
    RAW_WRITE_AMQP_URL: config.amqp.url,
    RAW_WRITE_REDIS_URL: config.redisUrl,
    RAW_WRITE_MYSQL_URL: mysqlUrl,
    RAW_WRITE_SECRET: secret,
  };
  const worker = await startRole(['worker', config.namespace], env);
  const frontPort = await freePort();
  const frontChild = await startRole(['front', config.namespace, String(frontPort)], env).catch((err: unknown) => {
    worker.kill();
    throw err;
  });
  const versions = new Map<string, number>();
  let next = 0;
  const { queue, eventQueue } = rawWriteNames(config.namespace);
  return {
    url: `http://127.0.0.1:${frontPort}/tools/${ids[0]}/versions`,
    auth: { authorization: `Bearer ${rawWriteToken(secret, owner)}` },
    nextPublish: () => {
      const tool = ids[next++ % ids.length];
      const n = (versions.get(tool) ?? 0) + 1;
      versions.set(tool, n);
      return {
        path: `/tools/${tool}/versions`,
        body: JSON.stringify({ version: `1.0.${n}`, config: { type: 'stdio', command: 'npx', args: ['-y', `srv@${n}`] } }),
      };
    },
    queues: [queue, eventQueue],
    stop: () => {
      frontChild.kill();
      worker.kill();
    },
  };
}
