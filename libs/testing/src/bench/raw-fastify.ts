/** Baseline for the benchmarks: the smallest Fastify server, in its own process like the gateway. */
import Fastify from 'fastify';

const port = Number(process.argv[2] ?? 0);
const app = Fastify({ logger: false });
app.get('/hello', async () => ({ hello: 'world' }));
app.listen({ port, host: '127.0.0.1' }).then(
  (url) => process.stdout.write(`listening ${url}\n`),
  (err: unknown) => {
    process.stderr.write(String(err));
    process.exit(1);
  },
);
