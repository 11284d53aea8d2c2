import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { EventBus, HealthRegistry, loadConfig, OutboxService, ProcessedMessageStore, ServiceCoreModule } from '#common';
import { registryDbOptions } from './database/registry-data-source';
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
    ToolsService,
    ImportExportService,
  ],
})
export class RegistryModule {}
