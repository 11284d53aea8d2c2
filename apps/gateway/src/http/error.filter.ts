import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Inject } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { ErrorCode, type ErrorBody } from '#contracts';
import { DomainError, httpStatusFor, JsonLogger, unreachableStore } from '#common';

/** The error code for a status from Nest/Fastify (which know statuses, not our codes). */
function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return ErrorCode.MALFORMED_REQUEST;
    case 401:
      return ErrorCode.UNAUTHENTICATED;
    case 403:
      return ErrorCode.FORBIDDEN;
    case 404:
      return ErrorCode.NOT_FOUND;
    case 409:
      return ErrorCode.CONFLICT;
    case 412:
      return ErrorCode.PRECONDITION_FAILED;
    case 413:
      return ErrorCode.PAYLOAD_TOO_LARGE;
    case 415:
      return ErrorCode.UNSUPPORTED_MEDIA_TYPE;
    case 422:
      return ErrorCode.UNPROCESSABLE;
    case 429:
      return ErrorCode.RATE_LIMITED;
    case 503:
      return ErrorCode.SERVICE_UNAVAILABLE;
    case 504:
      return ErrorCode.SERVICE_TIMEOUT;
    default:
      return status >= 500 ? ErrorCode.INTERNAL : ErrorCode.MALFORMED_REQUEST;
  }
}

/** Fastify's own client errors (body parsing, limits) carry a status and an FST_ code. */
const FASTIFY_MESSAGES: Record<string, (bodyLimit?: number) => string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: () => 'Request body is not valid JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: (limit) =>
    limit ? `Request body is larger than this route's limit of ${limit} bytes` : 'Request body is larger than the allowed limit',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => 'Unsupported Content-Type: send application/json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => 'Content-Length does not match the body',
};

type FastifyClientError = { statusCode: number; code?: string; message?: string };

/**
 * A Fastify client error (4xx), as thrown or as the cause of the HttpException that Nest 12's
 * Fastify adapter wraps it in (mapException) — without looking at the cause, its code was lost
 * and the client got Fastify's generic text ("Request body is too large", no limit).
 */
function fastifyClientError(exception: unknown): FastifyClientError | undefined {
  const candidate = exception instanceof HttpException ? exception.cause : exception;
  const fst = candidate as Partial<FastifyClientError> | undefined;
  return typeof fst?.statusCode === 'number' && fst.statusCode >= 400 && fst.statusCode < 500 && typeof fst.code === 'string'
    ? (fst as FastifyClientError)
    : undefined;
}

/**
 * Every error leaves the gateway as `{ error: { code, message, details?, request_id } }`.
 * Unexpected errors are logged with the request id and answered with an error id only — never a
 * stack trace or internal message.
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  constructor(@Inject(JsonLogger) private readonly logger: JsonLogger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest>();
    const { status, body, headers } = this.toResponse(exception, String(request.id), request.routeOptions?.bodyLimit);
    if (headers) for (const [k, v] of Object.entries(headers)) void reply.header(k, v);
    void reply.status(status).type('application/json; charset=utf-8').send(body);
  }

  /** `bodyLimit`: the route's body limit in bytes, named when a body exceeds it. */
  toResponse(
    exception: unknown,
    requestId: string,
    bodyLimit?: number,
  ): { status: number; body: ErrorBody; headers?: Record<string, string> } {
    const fastifyError = fastifyClientError(exception);
    if (fastifyError) {
      const known = fastifyError.code ? FASTIFY_MESSAGES[fastifyError.code] : undefined;
      const message = known?.(bodyLimit) ?? fastifyError.message ?? 'Bad request';
      const status = fastifyError.statusCode;
      return { status, body: { error: { code: codeForStatus(status), message, request_id: requestId } } };
    }
    if (exception instanceof DomainError) {
      const status = httpStatusFor(exception.code);
      const retryAfter = (exception.details as { retry_after_s?: number } | undefined)?.retry_after_s;
      return {
        status,
        body: { error: { code: exception.code, message: exception.message, details: exception.details, request_id: requestId } },
        headers: retryAfter ? { 'retry-after': String(retryAfter) } : undefined,
      };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      const message =
        typeof response === 'string'
          ? response
          : typeof (response as { message?: unknown }).message === 'string'
            ? (response as { message: string }).message
            : exception.message;
      return { status, body: { error: { code: codeForStatus(status), message, request_id: requestId } } };
    }
    const fst = exception as { statusCode?: number; message?: string };
    if (typeof fst?.statusCode === 'number' && fst.statusCode >= 400 && fst.statusCode < 500) {
      return {
        status: fst.statusCode,
        body: { error: { code: codeForStatus(fst.statusCode), message: fst.message ?? 'Bad request', request_id: requestId } },
      };
    }
    const store = unreachableStore(exception, 'MySQL');
    if (store) {
      // A store of the gateway's own (Redis, MySQL) is out of reach: not a bug of ours, so a
      // 503 the client can retry (as the services answer) and one warning line, not a 500.
      this.logger.warn({ msg: `${store} unreachable`, err: String(exception) }, 'HttpErrorFilter');
      const unavailable = new DomainError(ErrorCode.SERVICE_UNAVAILABLE, `The gateway cannot reach ${store} right now; retry shortly`, {
        dependency: store,
      });
      return { ...this.toResponse(unavailable, requestId), headers: { 'retry-after': '1' } };
    }
    const errorId = randomUUID();
    this.logger.error(
      { msg: 'unhandled error', error_id: errorId, err: exception instanceof Error ? exception.message : String(exception) },
      exception instanceof Error ? exception.stack : undefined,
      'HttpErrorFilter',
    );
    return {
      status: 500,
      body: {
        error: {
          code: ErrorCode.INTERNAL,
          message: `Internal error; quote error id ${errorId} when reporting it`,
          request_id: requestId,
          error_id: errorId,
        },
      },
    };
  }
}
