import { Module } from '@nestjs/common';
import { EventBus, loadConfig, ProcessedMessageStore, RpcClient, ServiceCoreModule } from '#common';
import { KnowledgeStore } from './database/knowledge-store';
import { DocumentsService } from './documents/documents.service';
import { EmbeddingsService } from './embeddings/embeddings.service';
import { KnowledgeController } from './knowledge.controller';
import { SearchService } from './search/search.service';

const config = loadConfig();

/** Documents about MCP tools and search over them (MongoDB). */
@Module({
  imports: [ServiceCoreModule.forService('knowledge', config)],
  controllers: [KnowledgeController],
  providers: [KnowledgeStore, EventBus, ProcessedMessageStore, RpcClient, EmbeddingsService, DocumentsService, SearchService],
})
export class KnowledgeModule {}
