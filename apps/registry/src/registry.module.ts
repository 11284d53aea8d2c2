import { Module } from '@nestjs/common';
import { ServiceCoreModule } from '#common';

/** The registry service. Feature modules are added here as the service grows. */
@Module({ imports: [ServiceCoreModule.forService('registry')] })
export class RegistryModule {}
