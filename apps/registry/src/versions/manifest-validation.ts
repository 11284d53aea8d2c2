import { Ajv } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019';
import { Ajv2020 } from 'ajv/dist/2020';
import { ErrorCode, type Manifest } from '#contracts';
import { DomainError } from '#common';

const options = { strict: false, validateSchema: true } as const;
/** One checker per JSON Schema dialect a tool's schema may declare in `$schema`. */
const DIALECTS = {
  'draft-07': new Ajv(options),
  '2019-09': new Ajv2019(options),
  '2020-12': new Ajv2020(options),
};
type Dialect = keyof typeof DIALECTS;

/**
 * The dialect a `$schema` names, by its URI with or without `#` and over http or https: MCP's SDKs
 * write draft-07 (zod-to-json-schema) or 2020-12 (zod 4's toJSONSchema, the dialect MCP assumes
 * when none is given).
 */
function dialectOf(uri: string): Dialect | undefined {
  const m = /^https?:\/\/json-schema\.org\/(draft-07|draft\/2019-09|draft\/2020-12)\/schema#?$/.exec(uri);
  return m ? (m[1].replace('draft/', '') as Dialect) : undefined;
}

/**
 * A manifest's tools must have unique names, and input and output schemas that are valid JSON
 * Schema objects (MCP requires `type: "object"` of both). Returns a 400 naming the tool and what is wrong.
 */
export function validateManifest(manifest: Manifest, field = 'manifest'): void {
  const seen = new Set<string>();
  manifest.tools.forEach((tool, i) => {
    const where = `${field}.tools.${i}`;
    if (seen.has(tool.name)) throw invalid(`${where}.name`, `duplicate tool name '${tool.name}'`);
    seen.add(tool.name);
    checkSchema(`${where}.input_schema`, `tool '${tool.name}': input schema`, tool.input_schema);
    if (tool.output_schema) checkSchema(`${where}.output_schema`, `tool '${tool.name}': output schema`, tool.output_schema);
  });
}

/**
 * Checked against the meta-schema of the dialect its `$schema` names; without one, a schema valid
 * in 2020-12 (MCP's default) or in draft-07 (what most servers still write) passes. A `$schema` of
 * another dialect is a 400 saying which ones are checked, never an error of the checker.
 */
function checkSchema(field: string, what: string, schema: Record<string, unknown>): void {
  if (schema.type !== 'object') throw invalid(field, `${what} must have type "object"`);
  const { $schema, ...rest } = schema;
  if ($schema !== undefined && (typeof $schema !== 'string' || !dialectOf($schema)))
    throw invalid(
      field,
      `${what} declares $schema ${JSON.stringify($schema)}, not a JSON Schema dialect the registry checks (draft-07, 2019-09 or 2020-12; or leave $schema out)`,
    );
  const dialects: Dialect[] = $schema === undefined ? ['2020-12', 'draft-07'] : [dialectOf($schema)!];
  let problem = '';
  for (const dialect of dialects) {
    const ajv = DIALECTS[dialect];
    try {
      if (ajv.validateSchema(rest)) return;
      const first = ajv.errors?.[0];
      problem ||= `${first?.instancePath || '/'} ${first?.message ?? 'invalid'}`;
    } catch (err) {
      // A nested $schema or $ref the checker cannot resolve: the schema's problem, not the registry's.
      problem ||= err instanceof Error ? err.message : String(err);
    }
  }
  throw invalid(field, `${what} is not a valid JSON Schema (${problem})`);
}

function invalid(field: string, message: string): DomainError {
  return new DomainError(ErrorCode.VALIDATION_FAILED, `Invalid body.${field}: ${message}`, [{ field, message }]);
}
