import { existsSync } from 'node:fs';
import { z } from 'zod';
import { parseCrashPoint, type CrashPointSpec } from '../util/crash-point';

/**
 * The only place that reads `process.env`. Every service validates its environment once at
 * start-up and gets a typed, nested config; a bad value stops the process with a list of what
 * to fix instead of failing later on first use.
 */
const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max).default(def);
const unsetIfEmpty = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema);
const csv = z
  .string()
  .default('')
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  );

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  NAMESPACE: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'lower-case letters, digits, "-" and "_" (max 40)')
    .default('mcp'),

  MYSQL_HOST: z.string().default('127.0.0.1'),
  MYSQL_PORT: int(3306, 1, 65535),
  MYSQL_USER: z.string().default('root'),
  MYSQL_PASSWORD: z.string().default(''),
  MYSQL_DATABASE_PREFIX: z
    .string()
    .regex(/^[a-z0-9_]{1,40}$/, 'lower-case letters, digits and "_"')
    .default('mcp_'),
  MYSQL_POOL_SIZE: int(10, 1, 200),

  REDIS_URL: z.url().default('redis://127.0.0.1:6379'),
  AMQP_URL: z.url().default('amqp://guest:guest@127.0.0.1:5672'),
  AMQP_PREFETCH: int(50, 1, 1000),
  RPC_TIMEOUT_MS: int(5000, 100, 120_000),
  RPC_COALESCE_MS: int(4, 0, 100),
  MONGO_URL: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// or mongodb+srv:// URL')
    .optional(),

  PORT: int(3000, 0, 65535),
  METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  HOST: z.string().default('0.0.0.0'),
  CORS_ORIGINS: csv,
  BODY_LIMIT_BYTES: int(1_048_576, 1024, 50 * 1_048_576),
  TRUST_PROXY: bool.default(false),

  JWT_SECRET: z.string().min(32, 'must be at least 32 characters (use `openssl rand -base64 48`)').optional(),
  JWT_ISSUER: z.string().default('mcp-platform'),
  JWT_AUDIENCE: z.string().default('mcp-platform-api'),
  ACCESS_TOKEN_TTL_S: int(900, 30, 86_400),
  REFRESH_TOKEN_TTL_S: int(2_592_000, 60, 31_536_000),

  RATE_LIMIT_WINDOW_S: int(60, 1, 3600),
  RATE_LIMIT_PER_IP: int(600, 1),
  RATE_LIMIT_PER_PRINCIPAL: int(1200, 1),
  LOGIN_MAX_FAILURES_PER_ACCOUNT: int(5, 1, 1000),
  LOGIN_MAX_FAILURES_PER_IP: int(20, 1, 100_000),
  LOGIN_LOCKOUT_S: int(900, 1, 86_400),

  MCP_CONFIG_WATCH_PATH: z.string().min(1).optional(),
  MCP_CONFIG_VISIBILITY: z.enum(['private', 'public']).default('public'),
  EXPORT_PAGE_SIZE: int(500, 1, 1000),
  IDEMPOTENCY_KEY_TTL_S: int(86_400, 1, 30 * 86_400),
  SSE_HEARTBEAT_MS: int(15_000, 1000, 300_000),
  SSE_MAX_STREAMS_PER_USER: int(10, 1, 1000),
  SSE_REPLAY_EVENTS: int(1000, 0, 100_000),
  SSE_LINGER_MS: int(60_000, 0, 3_600_000),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  ALLOW_SELF_REGISTRATION: bool.default(true),

  KNOWLEDGE_MAX_DOCUMENT_BYTES: int(5 * 1_048_576, 1024, 15 * 1_048_576),
  KNOWLEDGE_MAX_QUERY_LENGTH: int(500, 1, 1000),
  EMBEDDINGS_PROVIDER: z.enum(['none', 'openai', 'ollama', 'hashing']).default('none'),
  // Empty counts as unset: docker compose passes `${VAR:-}` through as "".
  EMBEDDINGS_MODEL: unsetIfEmpty(z.string().min(1).optional()),
  EMBEDDINGS_DIMENSIONS: int(256, 8, 4096),
  OPENAI_API_KEY: unsetIfEmpty(z.string().min(1).optional()),
  OPENAI_BASE_URL: unsetIfEmpty(z.url().optional()),
  OLLAMA_BASE_URL: z.url().default('http://127.0.0.1:11434'),

  BOOTSTRAP_ADMIN_USERNAME: z.string().optional(),
  BOOTSTRAP_ADMIN_EMAIL: z.string().optional(),
  BOOTSTRAP_ADMIN_PASSWORD: z.string().min(12, 'must be at least 12 characters').optional(),

  FAULT_CRASH_AT: unsetIfEmpty(z.string().optional()),
});

export type Env = z.infer<typeof envSchema>;

export interface AppConfig {
  env: Env['NODE_ENV'];
  logLevel: Env['LOG_LEVEL'];
  namespace: string;
  mysql: { host: string; port: number; user: string; password: string; databasePrefix: string; poolSize: number };
  redisUrl: string;
  /** `rpcCoalesceMs`: the longest a coalesced RPC write waits to go out with others (RequestCoalescer); 0 turns it off. */
  amqp: { url: string; prefetch: number; rpcTimeoutMs: number; rpcCoalesceMs: number };
  mongoUrl?: string;
  http: { port: number; host: string; corsOrigins: string[]; bodyLimitBytes: number; trustProxy: boolean };
  /** Back-end services: port of their Prometheus endpoint (off when unset). */
  metricsPort?: number;
  auth: {
    jwtSecret?: string;
    issuer: string;
    audience: string;
    accessTokenTtlS: number;
    refreshTokenTtlS: number;
    loginMaxFailuresPerAccount: number;
    loginMaxFailuresPerIp: number;
    loginLockoutS: number;
  };
  rateLimit: { windowS: number; perIp: number; perPrincipal: number };
  metricsToken?: string;
  /** Registry: a directory of .mcp.json files to import and watch. */
  configWatch?: { path: string; visibility: 'private' | 'public' };
  /** Gateway: tools per page the export of every tool is streamed in (one registry RPC each). */
  exportPageSize: number;
  /** Registry: how long the answer to a request with an Idempotency-Key is kept (a repeat within it gets that answer). */
  idempotencyKeyTtlS: number;
  /**
   * Gateway: live event streams (GET /events). `heartbeatMs`: a comment line that keeps proxies
   * from closing an idle stream; `replayEvents`: recent events kept to resume a reconnecting
   * client (Last-Event-ID); `lingerMs`: how long the gateway keeps listening after its last
   * stream closed, so that a client reconnecting within it misses nothing.
   */
  sse: { heartbeatMs: number; maxStreamsPerUser: number; replayEvents: number; lingerMs: number };
  allowSelfRegistration: boolean;
  knowledge: { maxDocumentBytes: number; maxQueryLength: number };
  /** Embeddings for hybrid knowledge search; `none` means text search only. */
  embeddings: {
    provider: 'none' | 'openai' | 'ollama' | 'hashing';
    model: string;
    dimensions: number;
    openaiApiKey?: string;
    openaiBaseUrl?: string;
    ollamaBaseUrl: string;
  };
  bootstrapAdmin?: { username: string; email: string; password: string };
  /** Tests only (NODE_ENV=test): the crash point at which the service kills itself (util/crash-point). */
  crashAt?: CrashPointSpec;
}

export class ConfigError extends Error {}

/** Validates an environment object (process.env by default) into the typed config. */
export function loadConfig(source: NodeJS.ProcessEnv = readProcessEnv()): AppConfig {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  - ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const admin = [e.BOOTSTRAP_ADMIN_USERNAME, e.BOOTSTRAP_ADMIN_EMAIL, e.BOOTSTRAP_ADMIN_PASSWORD];
  if (admin.some(Boolean) && !admin.every(Boolean)) {
    throw new ConfigError('Invalid configuration:\n  - BOOTSTRAP_ADMIN_*: set all three of USERNAME, EMAIL and PASSWORD, or none');
  }
  if (e.BOOTSTRAP_ADMIN_USERNAME && e.BOOTSTRAP_ADMIN_PASSWORD?.toLowerCase().includes(e.BOOTSTRAP_ADMIN_USERNAME.toLowerCase())) {
    throw new ConfigError('Invalid configuration:\n  - BOOTSTRAP_ADMIN_PASSWORD: must not contain the username');
  }
  if (e.EMBEDDINGS_PROVIDER === 'openai' && !e.OPENAI_API_KEY) {
    throw new ConfigError('Invalid configuration:\n  - OPENAI_API_KEY: required when EMBEDDINGS_PROVIDER=openai');
  }
  let crashAt: CrashPointSpec | undefined;
  if (e.FAULT_CRASH_AT !== undefined) {
    if (e.NODE_ENV !== 'test') {
      throw new ConfigError('Invalid configuration:\n  - FAULT_CRASH_AT: only with NODE_ENV=test (it makes the service kill itself)');
    }
    const spec = parseCrashPoint(e.FAULT_CRASH_AT);
    if (typeof spec === 'string') throw new ConfigError(`Invalid configuration:\n  - FAULT_CRASH_AT: ${spec}`);
    crashAt = spec;
  }
  const defaultModel = { none: 'none', openai: 'text-embedding-3-small', ollama: 'nomic-embed-text', hashing: 'hashing-v1' } as const;
  return {
    env: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    namespace: e.NAMESPACE,
    mysql: {
      host: e.MYSQL_HOST,
      port: e.MYSQL_PORT,
      user: e.MYSQL_USER,
      password: e.MYSQL_PASSWORD,
      databasePrefix: e.MYSQL_DATABASE_PREFIX,
      poolSize: e.MYSQL_POOL_SIZE,
    },
    redisUrl: e.REDIS_URL,
    amqp: { url: e.AMQP_URL, prefetch: e.AMQP_PREFETCH, rpcTimeoutMs: e.RPC_TIMEOUT_MS, rpcCoalesceMs: e.RPC_COALESCE_MS },
    mongoUrl: e.MONGO_URL,
    http: {
      port: e.PORT,
      host: e.HOST,
      corsOrigins: e.CORS_ORIGINS,
      bodyLimitBytes: e.BODY_LIMIT_BYTES,
      trustProxy: e.TRUST_PROXY,
    },
    auth: {
      jwtSecret: e.JWT_SECRET,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      accessTokenTtlS: e.ACCESS_TOKEN_TTL_S,
      refreshTokenTtlS: e.REFRESH_TOKEN_TTL_S,
      loginMaxFailuresPerAccount: e.LOGIN_MAX_FAILURES_PER_ACCOUNT,
      loginMaxFailuresPerIp: e.LOGIN_MAX_FAILURES_PER_IP,
      loginLockoutS: e.LOGIN_LOCKOUT_S,
    },
    rateLimit: { windowS: e.RATE_LIMIT_WINDOW_S, perIp: e.RATE_LIMIT_PER_IP, perPrincipal: e.RATE_LIMIT_PER_PRINCIPAL },
    metricsToken: e.METRICS_TOKEN,
    configWatch: e.MCP_CONFIG_WATCH_PATH ? { path: e.MCP_CONFIG_WATCH_PATH, visibility: e.MCP_CONFIG_VISIBILITY } : undefined,
    exportPageSize: e.EXPORT_PAGE_SIZE,
    idempotencyKeyTtlS: e.IDEMPOTENCY_KEY_TTL_S,
    sse: {
      heartbeatMs: e.SSE_HEARTBEAT_MS,
      maxStreamsPerUser: e.SSE_MAX_STREAMS_PER_USER,
      replayEvents: e.SSE_REPLAY_EVENTS,
      lingerMs: e.SSE_LINGER_MS,
    },
    metricsPort: e.METRICS_PORT,
    allowSelfRegistration: e.ALLOW_SELF_REGISTRATION,
    knowledge: { maxDocumentBytes: e.KNOWLEDGE_MAX_DOCUMENT_BYTES, maxQueryLength: e.KNOWLEDGE_MAX_QUERY_LENGTH },
    embeddings: {
      provider: e.EMBEDDINGS_PROVIDER,
      model: e.EMBEDDINGS_MODEL ?? defaultModel[e.EMBEDDINGS_PROVIDER],
      dimensions: e.EMBEDDINGS_DIMENSIONS,
      openaiApiKey: e.OPENAI_API_KEY,
      openaiBaseUrl: e.OPENAI_BASE_URL,
      ollamaBaseUrl: e.OLLAMA_BASE_URL,
    },
    bootstrapAdmin: e.BOOTSTRAP_ADMIN_USERNAME
      ? { username: e.BOOTSTRAP_ADMIN_USERNAME, email: e.BOOTSTRAP_ADMIN_EMAIL!, password: e.BOOTSTRAP_ADMIN_PASSWORD! }
      : undefined,
    crashAt,
  };
}

/** Reads `.env` from the working directory (if present; real env vars win) and returns process.env. */
function readProcessEnv(): NodeJS.ProcessEnv {
  if (!process.env.MCP_SKIP_DOTENV && existsSync('.env')) {
    // loadEnvFile does not override variables that are already set.
    process.loadEnvFile('.env');
  }
  return process.env;
}

/** The MySQL database a service owns, e.g. `mcp_gateway`. */
export function databaseName(config: AppConfig, service: string): string {
  return `${config.mysql.databasePrefix}${service.replace(/-/g, '_')}`;
}
