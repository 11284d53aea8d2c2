import 'reflect-metadata';
import { runMigrationCli } from '#common';
import { registryDbOptions } from './database/registry-data-source';

/** `node dist/apps/registry/src/migrate.js`: creates the registry database if needed and applies pending migrations. */
void runMigrationCli('registry', registryDbOptions);
