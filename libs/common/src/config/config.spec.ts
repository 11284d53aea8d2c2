import { ConfigError, databaseName, loadConfig } from './config';

describe('config', () => {
  it('has working defaults for a local machine', () => {
    const c = loadConfig({});
    expect(c.mysql).toMatchObject({ host: '127.0.0.1', port: 3306, user: 'root', databasePrefix: 'mcp_' });
    expect(c.amqp.url).toBe('amqp://guest:guest@127.0.0.1:5672');
    expect(c.http.port).toBe(3000);
    expect(databaseName(c, 'github-sync')).toBe('mcp_github_sync');
  });

  it('lists every invalid variable at once', () => {
    expect(() => loadConfig({ PORT: 'eighty', JWT_SECRET: 'short', NAMESPACE: 'Bad Name' })).toThrow(ConfigError);
    try {
      loadConfig({ PORT: 'eighty', JWT_SECRET: 'short', NAMESPACE: 'Bad Name' });
    } catch (e) {
      const msg = (e as Error).message;
      expect(msg).toContain('PORT');
      expect(msg).toContain('JWT_SECRET: must be at least 32 characters');
      expect(msg).toContain('NAMESPACE');
    }
  });

  it('wants all three bootstrap admin variables or none', () => {
    expect(() => loadConfig({ BOOTSTRAP_ADMIN_USERNAME: 'root' })).toThrow(/BOOTSTRAP_ADMIN_\*/);
    const c = loadConfig({
      BOOTSTRAP_ADMIN_USERNAME: 'root',
      BOOTSTRAP_ADMIN_EMAIL: 'r@x.io',
      BOOTSTRAP_ADMIN_PASSWORD: 'long-enough-pass',
    });
    expect(c.bootstrapAdmin).toEqual({ username: 'root', email: 'r@x.io', password: 'long-enough-pass' });
  });

  it('parses lists and booleans', () => {
    const c = loadConfig({ CORS_ORIGINS: 'https://a.example, https://b.example', TRUST_PROXY: 'true' });
    expect(c.http.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(c.http.trustProxy).toBe(true);
  });
});
