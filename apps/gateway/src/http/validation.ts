import { Body, Query, type PipeTransform } from '@nestjs/common';
import { ApiBody, ApiQuery } from '@nestjs/swagger';
import { z } from 'zod';
import { parseOrThrow } from '#common';

/** JSON Schema (OpenAPI 3.0 dialect) of what a client must send. */
export function openApiSchema(schema: z.ZodType, io: 'input' | 'output' = 'input'): Record<string, unknown> {
  return z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' });
}

class ZodPipe<S extends z.ZodType> implements PipeTransform<unknown, z.output<S>> {
  constructor(
    private readonly schema: S,
    private readonly where: string,
  ) {}
  transform(value: unknown): z.output<S> {
    return parseOrThrow(this.schema, value, this.where);
  }
}

/**
 * Validates the JSON body against a zod schema (unknown fields rejected when the schema is strict)
 * and documents it in OpenAPI from the same schema, so docs and validation cannot drift.
 */
export function ValidBody(schema: z.ZodType): ParameterDecorator {
  return (target, key, index) => {
    if (key !== undefined) {
      const descriptor = Object.getOwnPropertyDescriptor(target, key)!;
      ApiBody({ schema: openApiSchema(schema) })(target, key, descriptor);
    }
    Body(new ZodPipe(schema, 'body'))(target, key, index);
  };
}

/** Validates and documents query parameters (an object schema, one parameter per property). */
export function ValidQuery(schema: z.ZodObject): ParameterDecorator {
  return (target, key, index) => {
    if (key !== undefined) {
      const descriptor = Object.getOwnPropertyDescriptor(target, key)!;
      const json = openApiSchema(schema) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
      for (const [name, prop] of Object.entries(json.properties ?? {})) {
        ApiQuery({
          name,
          required: json.required?.includes(name) ?? false,
          schema: prop,
          description: typeof prop.description === 'string' ? prop.description : undefined,
        })(target, key, descriptor);
      }
    }
    Query(new ZodPipe(schema, 'query'))(target, key, index);
  };
}

/** Common query parameters for paginated lists. */
export const paginationQuery = z.strictObject({
  page: z.coerce.number().int().min(1).default(1).describe('1-based page number'),
  page_size: z.coerce.number().int().min(1).max(100).default(20).describe('items per page (max 100)'),
});

export function paginatedSchema<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), total: z.number().int(), page: z.number().int(), page_size: z.number().int() });
}

export const uuidParam = (name: string) => z.uuid({ message: `${name} must be a UUID` });
