import 'reflect-metadata';
import { bootstrapService } from '#common';
import { KnowledgeModule } from './knowledge.module';

void bootstrapService('knowledge', KnowledgeModule);
