import { Module } from '@nestjs/common';
import { ServiceCoreModule } from '#common';

/** The deployer service. Feature modules are added here as the service grows. */
@Module({ imports: [ServiceCoreModule.forService('deployer')] })
export class DeployerModule {}
