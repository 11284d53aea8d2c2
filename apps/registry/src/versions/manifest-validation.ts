import { Ajv } from 'ajv';
import { ErrorCode, type Manifest } from '#contracts';
import { DomainError } from '#common';

const ajv = new Ajv({ strict: false, validateSchema: true });

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

function checkSchema(field: string, what: string, schema: Record<string, unknown>): void {
  if (schema.type !== 'object') throw invalid(field, `${what} must have type "object"`);
  if (!ajv.validateSchema(schema)) {
    const first = ajv.errors?.[0];
    throw invalid(field, `${what} is not a valid JSON Schema (${first?.instancePath || '/'} ${first?.message ?? 'invalid'})`);
  }
}

function invalid(field: string, message: string): DomainError {
  return new DomainError(ErrorCode.VALIDATION_FAILED, `Invalid body.${field}: ${message}`, [{ field, message }]);
}
