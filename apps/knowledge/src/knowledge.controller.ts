import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { RpcPattern as P, type Actor, type RpcData } from '#contracts';
import { requireActor, RpcActor, RpcPayloadPipe } from '#common';
import { DocumentsService } from './documents/documents.service';
import { SearchService } from './search/search.service';

/** The knowledge service's RPC surface: one handler per `knowledge.*` pattern of the contracts. */
@Controller()
export class KnowledgeController {
  constructor(
    @Inject(DocumentsService) private readonly documents: DocumentsService,
    @Inject(SearchService) private readonly searcher: SearchService,
  ) {}

  @MessagePattern(P.KNOWLEDGE_DOCUMENT_CREATE)
  create(
    @Payload(new RpcPayloadPipe(P.KNOWLEDGE_DOCUMENT_CREATE)) req: RpcData<typeof P.KNOWLEDGE_DOCUMENT_CREATE>,
    @RpcActor() actor?: Actor,
  ) {
    return this.documents.create(req, requireActor(actor));
  }

  @MessagePattern(P.KNOWLEDGE_DOCUMENT_LIST)
  list(@Payload(new RpcPayloadPipe(P.KNOWLEDGE_DOCUMENT_LIST)) req: RpcData<typeof P.KNOWLEDGE_DOCUMENT_LIST>, @RpcActor() actor?: Actor) {
    return this.documents.list(req, requireActor(actor));
  }

  @MessagePattern(P.KNOWLEDGE_DOCUMENT_GET)
  get(@Payload(new RpcPayloadPipe(P.KNOWLEDGE_DOCUMENT_GET)) req: RpcData<typeof P.KNOWLEDGE_DOCUMENT_GET>, @RpcActor() actor?: Actor) {
    return this.documents.get(req.document_id, requireActor(actor));
  }

  @MessagePattern(P.KNOWLEDGE_DOCUMENT_UPDATE)
  update(
    @Payload(new RpcPayloadPipe(P.KNOWLEDGE_DOCUMENT_UPDATE)) req: RpcData<typeof P.KNOWLEDGE_DOCUMENT_UPDATE>,
    @RpcActor() actor?: Actor,
  ) {
    return this.documents.update(req.document_id, req.changes, requireActor(actor));
  }

  @MessagePattern(P.KNOWLEDGE_DOCUMENT_DELETE)
  remove(
    @Payload(new RpcPayloadPipe(P.KNOWLEDGE_DOCUMENT_DELETE)) req: RpcData<typeof P.KNOWLEDGE_DOCUMENT_DELETE>,
    @RpcActor() actor?: Actor,
  ) {
    return this.documents.remove(req.document_id, requireActor(actor));
  }

  @MessagePattern(P.KNOWLEDGE_SEARCH)
  search(@Payload(new RpcPayloadPipe(P.KNOWLEDGE_SEARCH)) req: RpcData<typeof P.KNOWLEDGE_SEARCH>, @RpcActor() actor?: Actor) {
    return this.searcher.search(req, requireActor(actor));
  }
}
