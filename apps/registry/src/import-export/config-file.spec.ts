import { parseConfigFile } from './config-file';
import { parseMcpServers } from './formats';

describe('config files', () => {
  it("reads an editor's JSONC: comments and trailing commas (VS Code's mcp.json)", () => {
    const text = `{
  // servers for this workspace
  "servers": {
    "stdio-mcp": {
      "type": "stdio",
      "command": "node",
      "args": ["build/index.js"],
      "env": { "YOUTUBE_API_KEY": "\${input:youtube_api_key}" },
      // "dev": { "watch": "src/**/*.ts" }
    },
  },
  /* asked for when the server starts */
  "inputs": [{ "type": "promptString", "id": "youtube_api_key", "description": "YouTube API Key", "password": true }],
}`;
    const parsed = parseConfigFile(text);
    expect(parsed).toHaveProperty('document');
    const r = parseMcpServers((parsed as { document: Record<string, unknown> }).document);
    expect(r.errors).toEqual([]);
    expect(r.entries[0].config).toMatchObject({
      command: 'node',
      env: [{ name: 'YOUTUBE_API_KEY', description: 'YouTube API Key', required: true, secret: true }],
    });
  });

  it('names where a file stops being JSON, and refuses what is not an object', () => {
    expect(parseConfigFile('{\n  "mcpServers": {\n    "oops": ')).toEqual({ error: 'not valid JSON: ValueExpected at line 3, column 13' });
    expect(parseConfigFile('{ "a": 1 } trailing')).toEqual({ error: 'not valid JSON: InvalidSymbol at line 1, column 12' });
    expect(parseConfigFile('')).toEqual({ error: 'not valid JSON: ValueExpected at line 1, column 1' });
    expect(parseConfigFile('[1, 2]')).toEqual({ error: 'not a JSON object' });
    expect(parseConfigFile('{ "mcpServers": {} }')).toEqual({ document: { mcpServers: {} } });
  });
});
