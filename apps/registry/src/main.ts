import 'reflect-metadata';
import { bootstrapService } from '#common';
import { RegistryModule } from './registry.module';

void bootstrapService('registry', RegistryModule);
