import 'reflect-metadata';
import { ConfigError, loadConfig, migrateDatabase } from '#common';
import { gatewayDbOptions } from './database/gateway-data-source';

/** `npm run migrate`: creates the gateway database if needed and applies pending migrations. */
async function main(): Promise<void> {
  const config = loadConfig();
  const options = gatewayDbOptions(config);
  const applied = await migrateDatabase(options, config);
  process.stdout.write(
    applied.length
      ? `gateway: applied ${applied.length} migration(s) to ${String(options.database)}: ${applied.join(', ')}\n`
      : `gateway: database ${String(options.database)} is up to date\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(
    `gateway migration failed: ${err instanceof ConfigError ? err.message : err instanceof Error ? err.stack : String(err)}\n`,
  );
  process.exit(1);
});
