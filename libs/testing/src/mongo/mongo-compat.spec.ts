/**
 * Regression suite of the MongoDB-compatible dev server, through the real MongoDB driver over TCP.
 * With MONGO_URL set it runs unchanged against that server instead (how the expectations were
 * meant: what a real mongod answers).
 */
import { connect } from 'node:net';
import { deserialize, type Long, serialize } from 'bson';
import mongoose from 'mongoose';
import { startMongoCompatServer, type MongoCompatServer } from './server';

const { MongoClient } = mongoose.mongo;
type Client = InstanceType<typeof MongoClient>;

let server: MongoCompatServer | undefined;
let url: string;
let client: Client;
const dbName = `compat_${process.pid}_${Date.now()}`;
const db = () => client.db(dbName);

beforeAll(async () => {
  if (process.env.MONGO_URL) url = process.env.MONGO_URL;
  else {
    server = await startMongoCompatServer();
    url = server.url;
  }
  client = await new MongoClient(url, { serverSelectionTimeoutMS: 5000 }).connect();
});

afterAll(async () => {
  await db()
    .dropDatabase()
    .catch(() => undefined);
  await client.close();
  await server?.close();
});

describe('handshake and admin commands', () => {
  it('answers ping, hello and buildInfo', async () => {
    expect(await db().command({ ping: 1 })).toMatchObject({ ok: 1 });
    const hello = await db().admin().command({ hello: 1 });
    expect(hello).toMatchObject({ isWritablePrimary: true, ok: 1 });
    expect(hello.maxWireVersion).toBeGreaterThanOrEqual(8);
    expect((await db().admin().command({ buildInfo: 1 })).version).toMatch(/^\d+\.\d+/);
  });

  it('answers a legacy OP_QUERY isMaster with an OP_REPLY', async () => {
    const { hostname, port } = new URL(url.replace('mongodb://', 'http://'));
    const query = serialize({ isMaster: 1 });
    const ns = Buffer.from('admin.$cmd\0');
    const head = Buffer.alloc(16);
    const fields = Buffer.alloc(12);
    fields.writeInt32LE(0, 0);
    fields.writeInt32LE(0, 4 + 0);
    const body = Buffer.concat([Buffer.alloc(4), ns, Buffer.from([0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]), query]);
    head.writeInt32LE(16 + body.length, 0);
    head.writeInt32LE(42, 4);
    head.writeInt32LE(2004, 12);
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => socket.write(Buffer.concat([head, body])));
      let data = Buffer.alloc(0);
      socket.on('data', (chunk) => {
        data = Buffer.concat([data, chunk]);
        if (data.length >= 4 && data.length >= data.readInt32LE(0)) {
          socket.end();
          resolve(data);
        }
      });
      socket.on('error', reject);
    });
    expect(reply.readInt32LE(8)).toBe(42); // responseTo
    expect(reply.readInt32LE(12)).toBe(1); // OP_REPLY
    expect(reply.readInt32LE(32)).toBe(1); // numberReturned
    expect(deserialize(reply.subarray(36))).toMatchObject({ ismaster: true, ok: 1 });
  });

  it('does not answer a message flagged moreToCome, and answers the next one', async () => {
    const { hostname, port } = new URL(url.replace('mongodb://', 'http://'));
    const opMsg = (requestId: number, flags: number, body: Record<string, unknown>) => {
      const bson = serialize(body);
      const head = Buffer.alloc(21);
      head.writeInt32LE(21 + bson.length, 0);
      head.writeInt32LE(requestId, 4);
      head.writeInt32LE(2013, 12);
      head.writeUInt32LE(flags, 16); // byte 20 stays 0: section kind 0
      return Buffer.concat([head, bson]);
    };
    const replies = await new Promise<Buffer[]>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write(opMsg(7, 2, { endSessions: [], $db: 'admin' }));
        socket.write(opMsg(8, 0, { ping: 1, $db: 'admin' }));
      });
      const got: Buffer[] = [];
      let data = Buffer.alloc(0);
      socket.on('data', (chunk) => {
        data = Buffer.concat([data, chunk]);
        while (data.length >= 4 && data.length >= data.readInt32LE(0)) {
          got.push(data.subarray(0, data.readInt32LE(0)));
          data = data.subarray(data.readInt32LE(0));
        }
        // Give a stray reply to the first message time to arrive before deciding.
        setTimeout(() => {
          socket.end();
          resolve(got);
        }, 100);
      });
      socket.on('error', reject);
    });
    expect(replies).toHaveLength(1);
    expect(replies[0].readInt32LE(8)).toBe(8);
    expect(deserialize(replies[0].subarray(21))).toMatchObject({ ok: 1 });
  });

  it('fails loudly on a command it does not support, with a MongoDB error', async () => {
    await expect(db().command({ definitelyNotACommand: 1 })).rejects.toMatchObject({ code: 59, codeName: 'CommandNotFound' });
  });
});

describe('collections and indexes', () => {
  it('creates, lists and drops collections', async () => {
    await db().createCollection('c1');
    await expect(db().createCollection('c1')).rejects.toMatchObject({ code: 48 });
    const names = (await db().listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    expect(names).toContain('c1');
    expect(await db().collection('c1').drop()).toBe(true);
    expect((await db().listCollections({ name: 'c1' }).toArray()).length).toBe(0);
  });

  it('enforces unique, compound and sparse indexes with E11000 errors naming the key', async () => {
    const c = db().collection('uniq');
    await c.createIndex({ email: 1 }, { unique: true });
    await c.createIndex({ org: 1, slug: 1 }, { unique: true });
    await c.createIndex({ handle: 1 }, { unique: true, sparse: true });
    await c.insertMany([
      { email: 'a@x', org: 'o', slug: 's1' },
      { email: 'b@x', org: 'o', slug: 's2' },
    ]);
    const dup = await c.insertOne({ email: 'a@x', org: 'p', slug: 's1' }).catch((e: unknown) => e);
    expect(dup).toMatchObject({ code: 11000, keyValue: { email: 'a@x' }, keyPattern: { email: 1 } });
    expect(String((dup as Error).message)).toMatch(/E11000 duplicate key error/);
    await expect(c.insertOne({ email: 'c@x', org: 'o', slug: 's1' })).rejects.toMatchObject({
      code: 11000,
      keyValue: { org: 'o', slug: 's1' },
    });
    // Sparse: many documents without the field are fine.
    expect(await c.countDocuments({ handle: { $exists: false } })).toBe(2);
    await c.insertOne({ email: 'h1@x', org: 'q', slug: 'h', handle: 'me' });
    await expect(c.insertOne({ email: 'h2@x', org: 'q', slug: 'h2', handle: 'me' })).rejects.toMatchObject({ code: 11000 });
    // A failed update leaves the document as it was.
    await expect(c.updateOne({ email: 'b@x' }, { $set: { email: 'a@x' } })).rejects.toMatchObject({ code: 11000 });
    expect(await c.countDocuments({ email: 'b@x' })).toBe(1);
    const indexes = await c.listIndexes().toArray();
    expect(indexes.map((i) => i.name).sort()).toEqual(['_id_', 'email_1', 'handle_1', 'org_1_slug_1']);
    expect(indexes.find((i) => i.name === 'handle_1')).toMatchObject({ unique: true, sparse: true });
    // Creating the same index again is a no-op; the same name with another key is a conflict.
    await c.createIndex({ email: 1 }, { unique: true });
    await expect(c.createIndex({ other: 1 }, { name: 'email_1' })).rejects.toMatchObject({ code: 86 });
  });
});

describe('CRUD', () => {
  const items = () =>
    db().collection<{ _id?: unknown; n: number; tag?: string; tags?: string[]; created?: Date; touched?: boolean }>('items');

  beforeAll(async () => {
    await items().insertMany(Array.from({ length: 250 }, (_, i) => ({ n: i, tag: i % 2 ? 'odd' : 'even', tags: [`t${i % 3}`] })));
  });

  it('finds through cursors with getMore and int64 ids, sorted, skipped, limited and projected', async () => {
    const cursor = items()
      .find({ tag: 'odd' }, { batchSize: 10, projection: { _id: 0, n: 1 } })
      .sort({ n: -1 });
    const all = await cursor.toArray();
    expect(all).toHaveLength(125);
    expect(all[0]).toEqual({ n: 249 });
    const raw = await db().command({ find: 'items', filter: {}, batchSize: 5 }, { promoteLongs: false });
    expect(raw.cursor.id).toMatchObject({ _bsontype: 'Long' });
    expect((raw.cursor.id as Long).toBigInt()).toBeGreaterThan(0n);
    expect(raw.cursor.firstBatch).toHaveLength(5);
    const more = await db().command({ getMore: raw.cursor.id, collection: 'items', batchSize: 3 });
    expect(more.cursor.nextBatch).toHaveLength(3);
    const killed = await db().command({ killCursors: 'items', cursors: [raw.cursor.id] });
    expect(killed.cursorsKilled).toHaveLength(1);
    await expect(db().command({ getMore: raw.cursor.id, collection: 'items' })).rejects.toMatchObject({ code: 43 });
    const page = await items()
      .find({ n: { $gte: 100 } })
      .sort({ n: 1 })
      .skip(5)
      .limit(3)
      .toArray();
    expect(page.map((d) => d.n)).toEqual([105, 106, 107]);
  });

  it('sorts missing values first, and numbers before strings when a field mixes them', async () => {
    const c = db().collection<{ k?: unknown; i: number }>('sorting');
    await c.insertMany([{ k: 'b', i: 1 }, { k: 'a', i: 2 }, { i: 3 }, { k: new Date('2020-01-01'), i: 4 }]);
    expect(
      (
        await c
          .find({ i: { $lte: 3 } })
          .sort({ k: 1 })
          .toArray()
      ).map((d) => d.i),
    ).toEqual([3, 2, 1]);
    expect(
      (
        await c
          .find({ i: { $lte: 3 } })
          .sort({ k: -1, i: 1 })
          .toArray()
      ).map((d) => d.i),
    ).toEqual([1, 2, 3]);
    await c.insertOne({ k: 5, i: 5 });
    expect(
      (
        await c
          .find({ i: { $ne: 4 } })
          .sort({ k: 1 })
          .toArray()
      ).map((d) => d.i),
    ).toEqual([3, 5, 2, 1]);
  });

  it('updates one, many, by replacement and by upsert with $setOnInsert', async () => {
    const many = await items().updateMany({ tags: 't0' }, { $set: { touched: true } });
    expect(many.matchedCount).toBe(84);
    expect(many.modifiedCount).toBe(84);
    const again = await items().updateMany({ tags: 't0' }, { $set: { touched: true } });
    expect(again.modifiedCount).toBe(0);
    const created = new Date('2026-01-01T00:00:00Z');
    const up = await items().updateOne({ n: 1000 }, { $set: { tag: 'new' }, $setOnInsert: { created } }, { upsert: true });
    expect(up.upsertedCount).toBe(1);
    expect(await items().findOne({ n: 1000 }, { projection: { _id: 0 } })).toEqual({ n: 1000, tag: 'new', created });
    await items().updateOne({ n: 1000 }, { $set: { tag: 'newer' }, $setOnInsert: { created: new Date() } }, { upsert: true });
    expect((await items().findOne({ n: 1000 }))?.created).toEqual(created);
    await items().replaceOne({ n: 1000 }, { n: 1000, tag: 'replaced' });
    expect(await items().findOne({ n: 1000 }, { projection: { _id: 0 } })).toEqual({ n: 1000, tag: 'replaced' });
    await expect(items().updateOne({ n: 1000 }, { $set: { _id: 'other' } })).rejects.toMatchObject({ code: 66 });
  });

  it('finds and modifies atomically, returning before or after', async () => {
    const before = await items().findOneAndUpdate({ n: 3 }, { $inc: { n: 10_000 } }, { returnDocument: 'before' });
    expect(before?.n).toBe(3);
    const after = await items().findOneAndUpdate({ n: 10_003 }, { $inc: { n: -10_000 } }, { returnDocument: 'after' });
    expect(after?.n).toBe(3);
    const upserted = await items().findOneAndUpdate({ n: 5000 }, { $set: { tag: 'fam' } }, { upsert: true, returnDocument: 'after' });
    expect(upserted).toMatchObject({ n: 5000, tag: 'fam' });
    const removed = await items().findOneAndDelete({ n: 5000 });
    expect(removed?.tag).toBe('fam');
    expect(await items().findOne({ n: 5000 })).toBeNull();
  });

  it('counts, distinct values and aggregates (what countDocuments sends)', async () => {
    expect(await items().countDocuments({ tag: 'even' })).toBe(125);
    expect(await items().countDocuments({}, { skip: 10, limit: 5 })).toBe(5);
    expect(await items().estimatedDocumentCount()).toBe(251);
    expect((await items().distinct('tags')).sort()).toEqual(['t0', 't1', 't2']);
    const grouped = await items()
      .aggregate<{ _id: string; total: number }>([
        { $match: { n: { $lt: 10 } } },
        { $group: { _id: '$tag', total: { $sum: '$n' } } },
        { $sort: { _id: 1 } },
      ])
      .toArray();
    expect(grouped).toEqual([
      { _id: 'even', total: 20 },
      { _id: 'odd', total: 25 },
    ]);
  });

  it('deletes one and many', async () => {
    expect((await items().deleteOne({ tag: 'odd' })).deletedCount).toBe(1);
    expect((await items().deleteMany({ tag: 'odd' })).deletedCount).toBe(124);
    expect(await items().countDocuments({ tag: 'odd' })).toBe(0);
  });
});

describe('$text search', () => {
  const docs = () => db().collection('docs');

  beforeAll(async () => {
    await docs().createIndex({ title: 'text', body: 'text' }, { weights: { title: 10, body: 1 }, name: 'text_search' });
    await docs().insertMany([
      { key: 'gh', title: 'GitHub MCP server', body: 'Manage repositories, issues and pull requests.', lang: 'en' },
      { key: 'pg', title: 'Postgres', body: 'Run read-only SQL queries. Mentions GitHub once.', lang: 'en' },
      { key: 'fs', title: 'Filesystem', body: 'Read and write files in allowed directories.', lang: 'en' },
      { key: 'rep', title: 'Notes', body: 'repository repositories repository', lang: 'en' },
    ]);
  });

  it('matches stemmed words and ranks by weighted score', async () => {
    const hits = await docs()
      .find({ $text: { $search: 'github' } }, { projection: { _id: 0, key: 1, score: { $meta: 'textScore' } } })
      .sort({ score: { $meta: 'textScore' } })
      .toArray();
    expect(hits.map((h) => h.key)).toEqual(['gh', 'pg']);
    expect(hits[0]?.score).toBeGreaterThan(hits[1]?.score as number);
    const stemmed = await docs()
      .find({ $text: { $search: 'repository' } })
      .toArray();
    expect(stemmed.map((h) => h.key).sort()).toEqual(['gh', 'rep']);
  });

  it('supports phrases, negation and other filters beside $text', async () => {
    expect(
      (
        await docs()
          .find({ $text: { $search: '"pull requests"' } })
          .toArray()
      ).map((d) => d.key),
    ).toEqual(['gh']);
    expect(
      (
        await docs()
          .find({ $text: { $search: 'github -postgres' } })
          .toArray()
      ).map((d) => d.key),
    ).toEqual(['gh']);
    expect(
      (
        await docs()
          .find({ $text: { $search: 'read' }, key: 'fs' })
          .toArray()
      ).map((d) => d.key),
    ).toEqual(['fs']);
    expect(await docs().countDocuments({ $text: { $search: 'files' } })).toBe(1);
  });

  it('needs a text index', async () => {
    await db().collection('plain').insertOne({ a: 1 });
    await expect(
      db()
        .collection('plain')
        .find({ $text: { $search: 'x' } })
        .toArray(),
    ).rejects.toMatchObject({ code: 27 });
  });
});
