import 'reflect-metadata';
import { bootstrapService } from '#common';
import { DeployerModule } from './deployer.module';

void bootstrapService('deployer', DeployerModule);
