import 'reflect-metadata';
import { bootstrapService } from '#common';
import { GithubSyncModule } from './github-sync.module';

void bootstrapService('github-sync', GithubSyncModule);
