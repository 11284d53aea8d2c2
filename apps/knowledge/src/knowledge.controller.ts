import { Controller, Inject } from '@nestjs/common';
import { RpcPattern as P, type Actor, type RpcData } from '#contracts';
import { requireActor, RpcHandler } from '#common';
import { DocumentsService } from './documents/documents.service';
import { SearchService } from './search/search.service';

/** The knowledge service's RPC surface: one handler per `knowledge.*` pattern of the contracts. */
@Controller()
export class KnowledgeController {
  constructor(
    @Inject(DocumentsService) private readonly documents: DocumentsService,
    @Inject(SearchService) private readonly searcher: SearchService,
  ) {}

  @RpcHandler(P.KNOWLEDGE_DOCUMENT_CREATE)
  create(req: RpcData<typeof P.KNOWLEDGE_DOCUMENT_CREATE>, actor: Actor | undefined) {
    return this.documents.create(req, requireActor(actor));
  }

  @RpcHandler(P.KNOWLEDGE_DOCUMENT_LIST)
  list(req: RpcData<typeof P.KNOWLEDGE_DOCUMENT_LIST>, actor: Actor | undefined) {
    return this.documents.list(req, requireActor(actor));
  }

  @RpcHandler(P.KNOWLEDGE_DOCUMENT_GET)
  get(req: RpcData<typeof P.KNOWLEDGE_DOCUMENT_GET>, actor: Actor | undefined) {
    return this.documents.get(req.document_id, requireActor(actor));
  }

  @RpcHandler(P.KNOWLEDGE_DOCUMENT_UPDATE)
  update(req: RpcData<typeof P.KNOWLEDGE_DOCUMENT_UPDATE>, actor: Actor | undefined) {
    return this.documents.update(req.document_id, req.changes, requireActor(actor));
  }

  @RpcHandler(P.KNOWLEDGE_DOCUMENT_DELETE)
  remove(req: RpcData<typeof P.KNOWLEDGE_DOCUMENT_DELETE>, actor: Actor | undefined) {
    return this.documents.remove(req.document_id, requireActor(actor));
  }

  @RpcHandler(P.KNOWLEDGE_SEARCH)
  search(req: RpcData<typeof P.KNOWLEDGE_SEARCH>, actor: Actor | undefined) {
    return this.searcher.search(req, requireActor(actor));
  }
}
