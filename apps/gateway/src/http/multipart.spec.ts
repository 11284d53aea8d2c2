import Fastify, { type FastifyInstance } from 'fastify';
import { streamingMultipart } from './multipart';

/** A real Fastify server with the plugin, on a loopback port. */
async function server(): Promise<{ app: FastifyInstance; hooks: string[]; url: string }> {
  const app = Fastify();
  const hooks: string[] = [];
  const addHook = app.addHook.bind(app);
  // Records the hooks added while the plugin registers (the plugin receives this instance).
  Reflect.set(app, 'addHook', (name: string, fn: never) => {
    hooks.push(name);
    return addHook(name as never, fn);
  });
  await app.register(streamingMultipart, { limits: { fileSize: 1024, files: 1 } });
  app.post('/upload', async (req) => {
    const out: Record<string, string> = {};
    for await (const part of req.parts()) {
      out[part.fieldname] = part.type === 'file' ? (await part.toBuffer()).toString('utf8') : String(part.value);
    }
    return out;
  });
  app.post('/disk', async (req) => {
    await req.saveRequestFiles();
    return {};
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, hooks, url };
}

function upload(url: string, fields: Record<string, string>, file?: { name: string; body: string }) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  if (file) form.append('file', new Blob([file.body], { type: 'text/markdown' }), file.name);
  return fetch(url, { method: 'POST', body: form });
}

describe('streamingMultipart', () => {
  let running: FastifyInstance | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });
  const start = async () => {
    const s = await server();
    running = s.app;
    return s;
  };

  it('adds no per-request hooks to the server', async () => {
    const { app, hooks } = await start();
    expect(hooks.filter((h) => h === 'onRequest' || h === 'onResponse')).toEqual([]);
    expect(app.hasRequestDecorator('isMultipart')).toBe(true);
  });

  it('reads uploads in stream mode with the limits given', async () => {
    const { url } = await start();
    const ok = await upload(`${url}/upload`, { title: 'T' }, { name: 'a.md', body: '# hi' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ title: 'T', file: '# hi' });
    const big = await upload(`${url}/upload`, {}, { name: 'a.md', body: 'x'.repeat(2048) });
    expect(big.status).toBe(413);
  });

  it('refuses disk mode, so no temporary file is ever written', async () => {
    const { url } = await start();
    const r = await upload(`${url}/disk`, {}, { name: 'a.md', body: '# hi' });
    expect(r.status).toBe(500);
    expect(((await r.json()) as { message: string }).message).toMatch(/disk mode .* is not enabled/);
  });
});
