import { publishVersionSchema } from './registry';

describe('manifest tools', () => {
  const manifest = (tool: Record<string, unknown>) =>
    publishVersionSchema.safeParse({ version: '1.0.0', config: { type: 'stdio', command: 'srv' }, manifest: { tools: [tool] } });

  it("take MCP's title, output schema and annotations", () => {
    const r = manifest({
      name: 'delete_repo',
      title: 'Delete repository',
      input_schema: { type: 'object' },
      output_schema: { type: 'object' },
      annotations: { title: 'Delete', readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    });
    expect(r.error).toBeUndefined();
  });

  it("name MCP's camelCase fields with the spelling the API takes, and refuse unknown annotations", () => {
    expect(manifest({ name: 'a', inputSchema: { type: 'object' } }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'manifest.tools.0.input_schema: Invalid input: expected record, received undefined',
      "manifest.tools.0: unknown field inputSchema: the API spells MCP's inputSchema as input_schema",
    ]);
    expect(manifest({ name: 'a', input_schema: { type: 'object' }, annotations: { dangerous: true } }).error?.issues[0]).toMatchObject({
      path: ['manifest', 'tools', 0, 'annotations'],
    });
  });
});
