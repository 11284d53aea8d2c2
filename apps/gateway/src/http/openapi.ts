import { applyDecorators, HttpCode } from '@nestjs/common';
import { ApiBearerAuth, ApiResponse, ApiSecurity, type OpenAPIObject } from '@nestjs/swagger';
import { z } from 'zod';
import { openApiSchema } from './validation';

export const errorBodySchema = z.object({
  error: z.object({
    code: z.string().describe('machine-readable error code, e.g. VALIDATION_FAILED'),
    message: z.string().describe('what went wrong and what to fix'),
    details: z.unknown().optional(),
    request_id: z.string(),
    error_id: z.string().optional(),
  }),
});

const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid input (the message names the field)',
  401: 'Missing, invalid, expired or revoked credentials',
  403: 'Authenticated but not allowed',
  404: 'Not found (or not visible to the caller)',
  409: 'Conflict with existing state',
  413: 'Body too large',
  415: 'Unsupported file or content type',
  422: 'Well-formed but refers to something that does not exist',
  429: 'Rate limited (see Retry-After)',
  503: 'A dependency is unavailable',
  504: 'A back-end service did not answer in time',
};

/** Documents a success response from the zod schema of what the route returns. */
export function ApiReply(status: number, schema?: z.ZodType, description = 'Success', headers?: Record<string, { description: string }>) {
  return applyDecorators(
    HttpCode(status),
    ApiResponse({
      status,
      description,
      ...(schema ? { schema: openApiSchema(schema, 'output') } : {}),
      ...(headers
        ? { headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, { ...v, schema: { type: 'string' } }])) }
        : {}),
    }),
  );
}

/** The error body's JSON Schema, converted once for every route's error responses. */
const ERROR_BODY_JSON_SCHEMA = openApiSchema(errorBodySchema, 'output');

/** Documents the error responses a route can give, all in the one error body format. */
export function ApiErrors(...statuses: number[]) {
  return applyDecorators(
    ...statuses.map((status) => ApiResponse({ status, description: ERROR_TEXT[status] ?? 'Error', schema: ERROR_BODY_JSON_SCHEMA })),
  );
}

const BODY_METHODS = ['post', 'put', 'patch', 'delete'] as const;
type OpenApiResponse = NonNullable<OpenAPIObject['paths'][string]['post']>['responses'][string];

/**
 * Every route that takes a body can answer 400 (not JSON, or invalid), 413 (over the body limit)
 * and 415 (not JSON, not multipart): Fastify refuses those bodies before the controller, so the
 * routes' own decorators do not say so. Added to each operation with a request body that does not
 * document them itself, so that clients generated from the document know the answers.
 */
export function documentBodyErrors(document: OpenAPIObject): OpenAPIObject {
  const content = { 'application/json': { schema: ERROR_BODY_JSON_SCHEMA } };
  for (const item of Object.values(document.paths))
    for (const method of BODY_METHODS) {
      const operation = item[method];
      if (!operation?.requestBody) continue;
      for (const status of [400, 413, 415]) operation.responses[status] ??= { description: ERROR_TEXT[status], content } as OpenApiResponse;
    }
  return document;
}

/** Marks a route as needing a JWT or API key in the OpenAPI document. */
export function ApiAuth() {
  return applyDecorators(ApiBearerAuth('bearer'), ApiSecurity('api_key'), ApiErrors(401, 403, 429));
}
