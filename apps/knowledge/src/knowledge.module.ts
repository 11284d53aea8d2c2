import { Module } from '@nestjs/common';
import { ServiceCoreModule } from '#common';

/** The knowledge service. Feature modules are added here as the service grows. */
@Module({ imports: [ServiceCoreModule.forService('knowledge')] })
export class KnowledgeModule {}
