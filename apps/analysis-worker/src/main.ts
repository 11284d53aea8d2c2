import 'reflect-metadata';
import { bootstrapService } from '#common';
import { AnalysisWorkerModule } from './analysis-worker.module';

void bootstrapService('analysis-worker', AnalysisWorkerModule);
