import 'reflect-metadata';
import { runMigrationCli } from '#common';
import { gatewayDbOptions } from './database/gateway-data-source';

/** `npm run migrate`: creates the gateway database if needed and applies pending migrations. */
void runMigrationCli('gateway', gatewayDbOptions);
