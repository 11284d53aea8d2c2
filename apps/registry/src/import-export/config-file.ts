import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser';

/**
 * A config file's text as a JSON object. Editors' MCP files are JSONC — VS Code's `mcp.json` and
 * Cursor's take `//` and `/* *\/` comments and trailing commas, and users comment servers out — so
 * those are read too; anything else that is not JSON is an error naming the first problem's line
 * and column.
 */
export function parseConfigFile(text: string): { document: Record<string, unknown> } | { error: string } {
  const errors: ParseError[] = [];
  const document: unknown = parse(text, errors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false });
  if (errors.length) {
    const [first] = errors;
    const before = text.slice(0, first.offset).split('\n');
    const where = `line ${before.length}, column ${before[before.length - 1].length + 1}`;
    return { error: `not valid JSON: ${printParseErrorCode(first.error)} at ${where}` };
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) return { error: 'not a JSON object' };
  return { document: document as Record<string, unknown> };
}
