/**
 * The bench's hand-built write pipeline is a baseline only if it does the platform's work: a
 * publish that answers 201 has its version, history and outbox rows committed, its event relayed,
 * the cache generation bumped; bad requests are refused as the gateway refuses them. Real MariaDB,
 * RabbitMQ and Redis; the built pipeline (dist) in its two processes.
 */
import type { Connection } from 'mysql2/promise';
import { Redis } from 'ioredis';
import { serverConnection } from '#common';
import { isolate, until, type TestIsolation } from '#testing';
import { startRawWrite, type RawWrite } from '../src/bench/raw-write-setup';

describe('hand-built write pipeline (bench baseline)', () => {
  let iso: TestIsolation;
  let mysql: Connection;
  let pipeline: RawWrite;
  let redis: Redis;

  beforeAll(async () => {
    iso = isolate();
    mysql = await serverConnection(iso.config);
    pipeline = await startRawWrite(iso.config, mysql, 2);
    redis = new Redis(iso.config.redisUrl);
  }, 30_000);

  afterAll(async () => {
    pipeline?.stop();
    redis?.disconnect();
    await mysql?.end();
    await iso.cleanup(pipeline?.queues);
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = pipeline.auth) =>
    fetch(new URL(path, pipeline.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const database = () => `\`${iso.config.mysql.databasePrefix}raw_write\``;

  it('commits the version, history and outbox rows, relays the event and bumps the generation', async () => {
    const { path, body } = pipeline.nextPublish();
    const res = await post(path, JSON.parse(body));
    expect(res.status).toBe(201);
    const answer = (await res.json()) as { tool_id: string; version: string; sha256: string };
    expect(answer.version).toBe('1.0.1');
    const [versions] = await mysql.query(`SELECT version, sha256 FROM ${database()}.tool_versions WHERE tool_id = ?`, [answer.tool_id]);
    expect(versions).toEqual([{ version: '1.0.1', sha256: answer.sha256 }]);
    const [history] = await mysql.query(`SELECT action FROM ${database()}.tool_history WHERE tool_id = ?`, [answer.tool_id]);
    expect(history).toEqual([{ action: 'version.published' }]);
    const [tools] = await mysql.query(`SELECT latest_version, highest_version FROM ${database()}.tools WHERE id = ?`, [answer.tool_id]);
    expect(tools).toEqual([{ latest_version: '1.0.1', highest_version: '1.0.1' }]);
    expect(Number(await redis.get(`${iso.config.namespace}:raw-write:generation`))).toBe(1);
    // The relay marks the row sent once the broker confirmed the event.
    await until(async () => {
      const [pending] = await mysql.query(`SELECT COUNT(*) AS n FROM ${database()}.outbox WHERE published_at IS NULL`);
      return Number((pending as { n: number }[])[0].n) === 0;
    }, 'the outbox row relayed');
  });

  it('refuses a version not higher than the last, an invalid version and a missing or forged token, writing nothing', async () => {
    const { path } = pipeline.nextPublish(); // the second tool, version 1.0.1
    const config = { type: 'stdio', command: 'npx', args: [] };
    expect((await post(path, { version: '2.0.0', config })).status).toBe(201);
    expect((await post(path, { version: '2.0.0', config })).status).toBe(409);
    expect((await post(path, { version: '1.9.9', config })).status).toBe(409);
    expect((await post(path, { version: 'two', config })).status).toBe(400);
    expect((await post(path, { version: '3.0.0', config }, {})).status).toBe(401);
    const forged = pipeline.auth.authorization.slice(0, -4) + 'AAAA';
    expect((await post(path, { version: '3.0.0', config }, { authorization: forged })).status).toBe(401);
    const toolId = path.split('/')[2];
    const [versions] = await mysql.query(`SELECT version FROM ${database()}.tool_versions WHERE tool_id = ?`, [toolId]);
    expect(versions).toEqual([{ version: '2.0.0' }]);
  });
});
