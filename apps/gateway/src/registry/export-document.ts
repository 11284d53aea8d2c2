import type { ExportPage, ImportFormat } from '#contracts';

/**
 * The export of every visible tool as one JSON document (the same text `JSON.stringify` gives),
 * written page by page as the registry answers: neither a reply nor the gateway's memory holds
 * the whole registry. Pages follow names, so a tool created or renamed during a long export may be
 * missed or listed by both names, as with any keyset paging.
 */
export async function* exportDocument(
  format: ImportFormat,
  first: ExportPage,
  next: (after: string) => Promise<ExportPage>,
): AsyncGenerator<string> {
  const mcpServers = format === 'mcp-servers';
  yield mcpServers ? '{"mcpServers":{' : '{"servers":[';
  let separator = '';
  let page = first;
  for (;;) {
    if (page.items.length) {
      const parts = page.items.map((i) => (mcpServers ? `${JSON.stringify(i.name)}:` : '') + JSON.stringify(i.document));
      yield separator + parts.join(',');
      separator = ',';
    }
    if (page.next_after === null) break;
    page = await next(page.next_after);
  }
  yield mcpServers ? '}}' : ']}';
}
