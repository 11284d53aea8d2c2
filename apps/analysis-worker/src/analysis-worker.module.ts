import { Module } from '@nestjs/common';
import { ServiceCoreModule } from '#common';

/** The analysis-worker service. Feature modules are added here as the service grows. */
@Module({ imports: [ServiceCoreModule.forService('analysis-worker')] })
export class AnalysisWorkerModule {}
