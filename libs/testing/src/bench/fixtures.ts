/** What `npm run bench` and `npm run bench:ab` set up the same way: the platform's settings, a signed-in admin, the tools. */
import { ApiClient } from '../http-client';
import { isolate, type TestIsolation } from '../isolation';

const ADMIN = { username: 'bench-admin', email: 'bench-admin@example.com', password: 'load-test-secret-1' };

/** A namespace for a bench platform: limits out of the way (a bench measures throughput, not the limiter), warnings only. */
export function benchIsolation(): TestIsolation {
  return isolate({
    RATE_LIMIT_PER_IP: '1000000000',
    RATE_LIMIT_PER_PRINCIPAL: '1000000000',
    LOG_LEVEL: 'warn',
    BOOTSTRAP_ADMIN_USERNAME: ADMIN.username,
    BOOTSTRAP_ADMIN_EMAIL: ADMIN.email,
    BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
  });
}

export interface BenchTools {
  /** `authorization` header of the signed-in admin. */
  auth: Record<string, string>;
  /** A public tool with one version, for the read scenarios. */
  readToolId: string;
  writeToolIds: string[];
  /** Path and body of the next publish: a valid, strictly higher version of the next write tool. */
  nextPublish: () => { path: string; body: string };
}

/**
 * Signs in as the bench admin and creates the tools. Writes rotate over `writeTools` tools (4×
 * the connections), so a tool's previous publish has finished long before its next one starts
 * and every publish is a valid, strictly higher version.
 */
export async function benchTools(baseUrl: string, writeTools: number, prefix = 'bench'): Promise<BenchTools> {
  const api = new ApiClient(baseUrl);
  const login = await api.post('/api/v1/auth/login', { username: ADMIN.username, password: ADMIN.password });
  if (login.status !== 200) throw new Error(`login at ${baseUrl} failed: ${login.text}`);
  const token = (login.body as { access_token: string }).access_token;
  const admin = api.withToken(token);
  const writeToolIds: string[] = [];
  for (let i = 0; i < writeTools; i++) {
    const r = await admin.post('/api/v1/mcps', { name: `${prefix}-write-${i}` });
    writeToolIds.push((r.body as { id: string }).id);
  }
  const read = (await admin.post('/api/v1/mcps', { name: `${prefix}-read`, visibility: 'public' })).body as { id: string };
  await admin.post(`/api/v1/mcps/${read.id}/versions`, { version: '1.0.0', config: { type: 'stdio', command: 'npx', args: ['-y', 'x'] } });
  const versions = new Map<string, number>();
  let next = 0;
  const nextPublish = () => {
    const tool = writeToolIds[next++ % writeToolIds.length];
    const n = (versions.get(tool) ?? 0) + 1;
    versions.set(tool, n);
    return {
      path: `/api/v1/mcps/${tool}/versions`,
      body: JSON.stringify({ version: `1.0.${n}`, config: { type: 'stdio', command: 'npx', args: ['-y', `srv@${n}`] } }),
    };
  };
  return { auth: { authorization: `Bearer ${token}` }, readToolId: read.id, writeToolIds, nextPublish };
}
