import type { ExportPage } from '#contracts';
import { exportDocument } from './export-document';

/** Pages of `size` over the items, keyed by name as the registry pages them. */
function pager(items: ExportPage['items'], size: number) {
  const asked: (string | undefined)[] = [];
  const page = (after?: string): Promise<ExportPage> => {
    asked.push(after);
    const start = after === undefined ? 0 : items.findIndex((i) => i.name === after) + 1;
    const slice = items.slice(start, start + size);
    return Promise.resolve({ items: slice, next_after: slice.length === size ? slice[slice.length - 1].name : null });
  };
  return { page, asked };
}

async function text(chunks: AsyncIterable<string>): Promise<string> {
  let out = '';
  for await (const c of chunks) out += c;
  return out;
}

describe('streamed export document', () => {
  const items = ['a', 'b', 'c', 'd', 'e'].map((name) => ({ name, document: { url: `https://${name}.example/mcp`, q: 'x"y' } }));

  it.each([
    [0, 2],
    [1, 2],
    [4, 2],
    [5, 2],
    [5, 1],
    [5, 10],
  ])('writes %i tools in pages of %i as the text JSON.stringify gives', async (count, size) => {
    const some = items.slice(0, count);
    const { page, asked } = pager(some, size);
    const servers = await text(exportDocument('mcp-servers', await page(), page));
    expect(servers).toBe(JSON.stringify({ mcpServers: Object.fromEntries(some.map((i) => [i.name, i.document])) }));
    // One request per page, plus an empty one when the last page was full.
    expect(asked).toHaveLength(Math.floor(count / size) + 1);
    const second = pager(some, size);
    const list = await text(exportDocument('server-json', await second.page(), second.page));
    expect(list).toBe(JSON.stringify({ servers: some.map((i) => i.document) }));
  });

  it('fails, instead of ending the document, when a later page cannot be read', async () => {
    const { page } = pager(items, 2);
    const failing = (after: string) => (after === 'b' ? page(after) : Promise.reject(new Error('registry timed out')));
    await expect(text(exportDocument('mcp-servers', await page(), failing))).rejects.toThrow('registry timed out');
  });
});
