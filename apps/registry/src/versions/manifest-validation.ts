import { Ajv } from 'ajv';
import { ErrorCode, type Manifest } from '#contracts';
import { DomainError } from '#common';

const ajv = new Ajv({ strict: false, validateSchema: true });

/**
 * A manifest's tools must have unique names and input schemas that are valid JSON Schema objects
 * (MCP requires `type: "object"`). Returns a 400 naming the tool and what is wrong.
 */
export function validateManifest(manifest: Manifest, field = 'manifest'): void {
  const seen = new Set<string>();
  manifest.tools.forEach((tool, i) => {
    const where = `${field}.tools.${i}`;
    if (seen.has(tool.name)) throw invalid(`${where}.name`, `duplicate tool name '${tool.name}'`);
    seen.add(tool.name);
    if (tool.input_schema.type !== 'object')
      throw invalid(`${where}.input_schema`, `tool '${tool.name}': input schema must have type "object"`);
    if (!ajv.validateSchema(tool.input_schema)) {
      const first = ajv.errors?.[0];
      throw invalid(
        `${where}.input_schema`,
        `tool '${tool.name}': not a valid JSON Schema (${first?.instancePath || '/'} ${first?.message ?? 'invalid'})`,
      );
    }
  });
}

function invalid(field: string, message: string): DomainError {
  return new DomainError(ErrorCode.VALIDATION_FAILED, `Invalid body.${field}: ${message}`, [{ field, message }]);
}
