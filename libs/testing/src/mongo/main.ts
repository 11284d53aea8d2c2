/**
 * `node dist/libs/testing/src/mongo/main.js [--port 27017] [--host 127.0.0.1]`: runs the
 * MongoDB-compatible development server until stopped. `npm start` uses it when MONGO_URL is unset.
 */
import { startMongoCompatServer } from './server';

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}

async function main(): Promise<void> {
  const server = await startMongoCompatServer({ port: Number(option('port', '27017')), host: option('host', '127.0.0.1') });
  // The first stdout line is the URL (deploy/local/start.mjs reads it when it picked port 0).
  process.stdout.write(`${server.url}\n`);
  process.stderr.write(
    `WARNING: ${server.url} is the in-memory MongoDB-compatible development server: data is lost when it stops. ` +
      'Set MONGO_URL to a real MongoDB for anything that must keep its data.\n',
  );
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`mongo-compat: ${(error as Error).message}\n`);
  process.exit(1);
});
