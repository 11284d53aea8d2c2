import { applyDecorators, HttpCode } from '@nestjs/common';
import { ApiBearerAuth, ApiResponse, ApiSecurity } from '@nestjs/swagger';
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

/** Documents the error responses a route can give, all in the one error body format. */
export function ApiErrors(...statuses: number[]) {
  const schema = openApiSchema(errorBodySchema, 'output');
  return applyDecorators(...statuses.map((status) => ApiResponse({ status, description: ERROR_TEXT[status] ?? 'Error', schema })));
}

/** Marks a route as needing a JWT or API key in the OpenAPI document. */
export function ApiAuth() {
  return applyDecorators(ApiBearerAuth('bearer'), ApiSecurity('api_key'), ApiErrors(401, 403, 429));
}
