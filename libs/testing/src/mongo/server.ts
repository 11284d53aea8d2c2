/**
 * MongoDB wire protocol over TCP for the in-memory engine: OP_MSG (kind-0 body, kind-1 document
 * sequences, `moreToCome`) and the legacy OP_QUERY handshake the driver opens with. In-memory and
 * single-process: for development and tests on machines without mongod, never for production.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { deserialize, serialize } from 'bson';
import { CommandError, Engine, type Doc } from './engine';

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const CHECKSUM_PRESENT = 1;
const MORE_TO_COME = 2;
const MAX_MESSAGE = 48_000_000;

export interface MongoCompatServer {
  /** `mongodb://host:port` (append a database name). */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

function errorReply(error: unknown): Doc {
  if (error instanceof CommandError) return { ok: 0, errmsg: error.message, code: error.code, codeName: error.codeName, ...error.extra };
  return { ok: 0, errmsg: `internal error: ${(error as Error).message}`, code: 1, codeName: 'InternalError' };
}

function header(length: number, requestId: number, responseTo: number, opCode: number): Buffer {
  const buf = Buffer.alloc(16);
  buf.writeInt32LE(length, 0);
  buf.writeInt32LE(requestId, 4);
  buf.writeInt32LE(responseTo, 8);
  buf.writeInt32LE(opCode, 12);
  return buf;
}

let nextRequestId = 1;

function opMsgReply(responseTo: number, body: Doc): Buffer {
  const bson = serialize(body);
  const flags = Buffer.alloc(5); // flagBits 0, section kind 0
  return Buffer.concat([header(16 + 5 + bson.length, nextRequestId++, responseTo, OP_MSG), flags, bson]);
}

function opReply(responseTo: number, body: Doc): Buffer {
  const bson = serialize(body);
  const fields = Buffer.alloc(20); // responseFlags, cursorID (int64 0), startingFrom, numberReturned
  fields.writeInt32LE(1, 16);
  return Buffer.concat([header(16 + 20 + bson.length, nextRequestId++, responseTo, OP_REPLY), fields, bson]);
}

function readCString(buf: Buffer, at: number): [string, number] {
  const end = buf.indexOf(0, at);
  return [buf.toString('utf8', at, end), end + 1];
}

/** Parses an OP_MSG into its command document, folding kind-1 sequences in as arrays. */
function parseOpMsg(message: Buffer): { flags: number; body: Doc } {
  const flags = message.readUInt32LE(16);
  const end = message.length - (flags & CHECKSUM_PRESENT ? 4 : 0);
  let at = 20;
  let body: Doc | undefined;
  const sequences: [string, Doc[]][] = [];
  while (at < end) {
    const kind = message.readUInt8(at++);
    const size = message.readInt32LE(at);
    if (kind === 0) {
      body = deserialize(message.subarray(at, at + size));
    } else if (kind === 1) {
      const [identifier, docsAt] = readCString(message, at + 4);
      const docs: Doc[] = [];
      for (let p = docsAt; p < at + size;) {
        const docSize = message.readInt32LE(p);
        docs.push(deserialize(message.subarray(p, p + docSize)));
        p += docSize;
      }
      sequences.push([identifier, docs]);
    } else throw new CommandError(9, 'FailedToParse', `unknown OP_MSG section kind ${kind}`);
    at += size;
  }
  if (!body) throw new CommandError(9, 'FailedToParse', 'OP_MSG without a body section');
  for (const [identifier, docs] of sequences) body[identifier] = docs;
  return { flags, body };
}

function handle(engine: Engine, message: Buffer): Buffer | undefined {
  const requestId = message.readInt32LE(4);
  const opCode = message.readInt32LE(12);
  if (opCode === OP_MSG) {
    let flags = 0;
    let reply: Doc;
    try {
      const parsed = parseOpMsg(message);
      flags = parsed.flags;
      const { $db, ...command } = parsed.body;
      reply = engine.run(typeof $db === 'string' ? $db : 'admin', command);
    } catch (error) {
      reply = errorReply(error);
    }
    return flags & MORE_TO_COME ? undefined : opMsgReply(requestId, reply);
  }
  if (opCode === OP_QUERY) {
    // Only the handshake travels as OP_QUERY today: `<db>.$cmd` with a hello/isMaster document.
    const [collection, after] = readCString(message, 20);
    const queryAt = after + 8;
    const query = deserialize(message.subarray(queryAt, queryAt + message.readInt32LE(queryAt)));
    const command = (query.$query as Doc | undefined) ?? query;
    let reply: Doc;
    try {
      if (!collection.endsWith('.$cmd'))
        throw new CommandError(352, 'UnsupportedOpQueryCommand', 'OP_QUERY is only supported for commands');
      reply = engine.run(collection.slice(0, -5), command);
    } catch (error) {
      reply = errorReply(error);
    }
    return opReply(requestId, reply);
  }
  return opMsgReply(requestId, errorReply(new CommandError(352, 'UnsupportedOpQueryCommand', `unsupported opCode ${opCode}`)));
}

function serve(engine: Engine, socket: Socket): void {
  let pending: Buffer = Buffer.alloc(0);
  // Chunks of a message still arriving: joined once it is complete, not on every chunk (large
  // inserts arrive in hundreds of chunks).
  const waiting: Buffer[] = [];
  let waitingBytes = 0;
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    if (waiting.length || pending.length) {
      waiting.push(chunk);
      waitingBytes += chunk.length;
      const needed = (pending.length >= 4 ? pending : Buffer.concat([pending, ...waiting]).subarray(0, 4)).readInt32LE(0);
      if (pending.length + waitingBytes < needed) return;
      pending = Buffer.concat([pending, ...waiting.splice(0)]);
      waitingBytes = 0;
    } else pending = chunk;
    while (pending.length >= 4) {
      const length = pending.readInt32LE(0);
      if (length < 16 || length > MAX_MESSAGE) {
        socket.destroy();
        return;
      }
      if (pending.length < length) break;
      const message = pending.subarray(0, length);
      pending = pending.subarray(length);
      const reply = handle(engine, message);
      if (reply) socket.write(reply);
    }
  });
}

/** Starts a server on `host:port` (port 0 picks a free one). Every server has its own data. */
export async function startMongoCompatServer(options: { port?: number; host?: string } = {}): Promise<MongoCompatServer> {
  const engine = new Engine();
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serve(engine, socket);
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `mongodb://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
