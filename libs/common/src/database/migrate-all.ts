/**
 * Runs the migrations of several services in turn, without a shell (containers and Jobs):
 *   node dist/libs/common/src/database/migrate-all.js gateway registry
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..', '..', '..', '..', '..');
for (const service of process.argv.slice(2)) {
  if (!/^[a-z-]+$/.test(service)) {
    process.stderr.write(`not a service name: ${service}\n`);
    process.exit(2);
  }
  const r = spawnSync(process.execPath, [join(root, 'dist', 'apps', service, 'src', 'migrate.js')], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
