import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './platform';

const DIR = join(REPO_ROOT, 'libs', 'testing', 'fixtures', 'mcp-readmes');

/** README files of the reference MCP servers (see NOTICE.md there): name → markdown. */
export function mcpReadmes(): Map<string, string> {
  return new Map(
    readdirSync(DIR)
      .filter((f) => f.startsWith('server-') && f.endsWith('.md'))
      .sort()
      .map((f) => [f.slice(0, -3), readFileSync(join(DIR, f), 'utf8')]),
  );
}
