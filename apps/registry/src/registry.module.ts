import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { Gauge } from 'prom-client';
import { EventBus, HealthRegistry, loadConfig, metricsRegistry, OutboxService, ProcessedMessageStore, ServiceCoreModule } from '#common';
import { registryDbOptions } from './database/registry-data-source';
import { IdempotencyService } from './idempotency/idempotency.service';
import { ConfigWatcherService } from './import-export/config-watcher.service';
import { ImportExportService } from './import-export/import-export.service';
import { ToolsController } from './tools/tools.controller';
import { ToolsService } from './tools/tools.service';

const config = loadConfig();

/** Refuses to serve against an outdated schema, and reports MySQL in the health RPC. */
class RegistryStartup implements OnModuleInit {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(HealthRegistry) private readonly health: HealthRegistry,
  ) {}
  async onModuleInit(): Promise<void> {
    if (await this.dataSource.showMigrations()) {
      throw new Error(
        `Database ${String(this.dataSource.options.database)} has pending migrations: run \`node dist/apps/registry/src/migrate.js\` first`,
      );
    }
    this.health.registerProbe('mysql', () => this.dataSource.query('SELECT 1'));
    // Counted when Prometheus scrapes, from the database (correct with any number of instances).
    const dataSource = this.dataSource;
    metricsRegistry.removeSingleMetric('mcp_tools_total');
    new Gauge({
      name: 'mcp_tools_total',
      help: 'Registered MCP tools (not deleted), by status and visibility',
      labelNames: ['status', 'visibility'] as const,
      registers: [metricsRegistry],
      async collect() {
        this.reset();
        const rows: { status: string; visibility: string; n: string }[] = await dataSource.query(
          'SELECT status, visibility, COUNT(*) AS n FROM tools WHERE deleted_at IS NULL GROUP BY status, visibility',
        );
        for (const r of rows) this.set({ status: r.status, visibility: r.visibility }, Number(r.n));
      },
    });
  }
}

/** MCP tools and their immutable versions. */
@Module({
  imports: [ServiceCoreModule.forService('registry', config), TypeOrmModule.forRoot(registryDbOptions(config))],
  controllers: [ToolsController],
  providers: [
    {
      provide: RegistryStartup,
      inject: [DataSource, HealthRegistry],
      useFactory: (ds: DataSource, h: HealthRegistry) => new RegistryStartup(ds, h),
    },
    EventBus,
    ProcessedMessageStore,
    OutboxService,
    IdempotencyService,
    ToolsService,
    ImportExportService,
    ConfigWatcherService,
  ],
})
export class RegistryModule {}
