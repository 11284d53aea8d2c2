import { Module } from '@nestjs/common';
import { ServiceCoreModule } from '#common';

/** The github-sync service. Feature modules are added here as the service grows. */
@Module({ imports: [ServiceCoreModule.forService('github-sync')] })
export class GithubSyncModule {}
