import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { SERVICE_NAMES } from '#contracts';
import { envSchema } from '#common';
import { serviceNodeFlags } from './platform';

/**
 * No Docker engine or cluster exists on the CI machines, so the deployment files are checked for
 * what can be checked statically: every app and store is defined, health-checked and started in
 * the right order, the Dockerfile builds what the apps are, and configuration names match the
 * validated config schema.
 */
const root = process.cwd();
const read = (p: string) => readFileSync(join(root, p), 'utf8');
const APPS = ['gateway', ...SERVICE_NAMES];
const STORES = { mysql: /^mysql:8/, mongodb: /^mongo:7/, redis: /^redis:7/, rabbitmq: /^rabbitmq:3/ };

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string; args?: Record<string, string> };
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  container_name?: string;
}

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService> };
  const services = compose.services;

  it.each(Object.entries(STORES))('runs %s with a pinned major version and a healthcheck', (name, image) => {
    expect(services[name]?.image).toMatch(image);
    expect(services[name]?.healthcheck?.test.length).toBeGreaterThan(0);
  });

  it.each(APPS)('builds and health-checks %s, starting it only after healthy stores and finished migrations', (app) => {
    const s = services[app];
    expect(s).toBeDefined();
    expect(s.build).toMatchObject({ context: '.', dockerfile: 'deploy/Dockerfile', args: { APP: app } });
    expect(s.healthcheck?.test.join(' ')).toMatch(app === 'gateway' ? /\/health\/ready/ : new RegExp(`rpc-healthcheck\\.js ${app}$`));
    for (const store of Object.keys(STORES)) expect(s.depends_on?.[store]).toEqual({ condition: 'service_healthy' });
    expect(s.depends_on?.migrate).toEqual({ condition: 'service_completed_successfully' });
    expect(existsSync(join(root, 'apps', app, 'src', 'main.ts'))).toBe(true);
  });

  it('keeps back-end services scalable (no fixed names, no host ports) and scrapeable', () => {
    for (const app of SERVICE_NAMES) {
      expect(services[app].environment?.METRICS_PORT).toBe('9464');
      expect(services[app].container_name).toBeUndefined();
      expect(services[app].ports).toBeUndefined();
    }
    expect(services.gateway.ports).toEqual(['${GATEWAY_PORT:-3000}:3000']);
  });

  it('runs migrations as a one-shot before the apps', () => {
    expect(services.migrate.command).toEqual(['node', 'dist/apps/gateway/src/migrate.js']);
    expect(existsSync(join(root, 'apps/gateway/src/migrate.ts'))).toBe(true);
    expect(services.migrate.depends_on?.mysql).toEqual({ condition: 'service_healthy' });
  });

  it('passes only configuration variables the services know, with values that validate', () => {
    const known = new Set(Object.keys(envSchema.shape));
    for (const app of [...APPS, 'migrate']) {
      const env = services[app].environment ?? {};
      for (const key of Object.keys(env)) expect({ app, key, known: known.has(key) }).toEqual({ app, key, known: true });
      // Resolve compose's ${VAR:-default} to the default and validate like a service would at start-up.
      const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')]));
      expect(envSchema.safeParse(resolved).success).toBe(true);
    }
  });
});

describe('deploy/Dockerfile', () => {
  const dockerfile = read('deploy/Dockerfile');

  it('builds on Node 22+ in stages and runs as a non-root user', () => {
    const froms = [...dockerfile.matchAll(/^FROM node:(\d+)/gm)].map((m) => Number(m[1]));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const major of froms) expect(major).toBeGreaterThanOrEqual(22);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/npm ci/);
    expect(dockerfile).toMatch(/dist\/apps\/\$\{APP\}\/src\/main\.js/);
  });

  it('runs each app with the Node.js flags of deploy/node-flags.json, as deploy/local/start.mjs does', () => {
    const flags = serviceNodeFlags();
    expect(flags).toEqual(
      expect.arrayContaining(['--no-allocation-site-pretenuring', '--heap-growing-percent=100', '--no-memory-reducer']),
    );
    expect(dockerfile).toContain(`exec node ${flags.join(' ')} dist/apps/\${APP}/src/main.js`);
    expect(read('deploy/local/start.mjs')).toMatch(/spawn\(process\.execPath, \[\.\.\.nodeFlags, /);
  });

  it('copies only files that exist', () => {
    for (const m of dockerfile.matchAll(/^COPY (?!--from)([^\n]+?) \S+$/gm)) {
      for (const src of m[1].split(' ')) expect({ src, exists: existsSync(join(root, src)) }).toEqual({ src, exists: true });
    }
  });
});

describe('Kubernetes manifests', () => {
  const kustomization = parse(read('deploy/k8s/kustomization.yaml')) as { resources: string[]; images: { name: string }[] };

  it('lists existing files, and a Deployment with readiness and liveness probes per app', () => {
    const docs = kustomization.resources.flatMap((r) => {
      expect(existsSync(join(root, 'deploy/k8s', r))).toBe(true);
      return parseAllDocuments(read(join('deploy/k8s', r))).map((d) => d.toJS() as Record<string, any>);
    });
    for (const app of APPS) {
      const dep = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === app);
      expect(dep).toBeDefined();
      const container = dep!.spec.template.spec.containers[0];
      expect(container.readinessProbe).toBeDefined();
      expect(container.livenessProbe).toBeDefined();
      expect(kustomization.images.map((i) => i.name)).toContain(container.image);
    }
    expect(docs.find((d) => d.kind === 'Job' && d.metadata.name === 'migrate')).toBeDefined();
  });
});

describe('.env.example', () => {
  it('documents every configuration variable with a comment', () => {
    const lines = read('.env.example').split('\n');
    for (const key of Object.keys(envSchema.shape)) {
      const i = lines.findIndex((l) => new RegExp(`^#? ?${key}=`).test(l));
      expect({ key, documented: i >= 0 }).toEqual({ key, documented: true });
      expect({ key, commented: lines[i - 1].startsWith('#') }).toEqual({ key, commented: true });
    }
  });

  it('validates as it stands', () => {
    const env = Object.fromEntries(
      read('.env.example')
        .split('\n')
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const)
        .filter(([, v]) => v !== ''),
    );
    const r = envSchema.safeParse(env);
    expect(r.error?.issues ?? []).toEqual([]);
  });
});

describe('nest-cli.json', () => {
  it('is a monorepo listing every app and lib', () => {
    const cli = JSON.parse(read('nest-cli.json')) as {
      monorepo: boolean;
      compilerOptions: { builder: string };
      projects: Record<string, { root: string; type: string }>;
    };
    expect(cli.monorepo).toBe(true);
    expect(cli.compilerOptions.builder).toBe('tsc');
    for (const app of APPS) expect(cli.projects[app]).toMatchObject({ type: 'application', root: `apps/${app}` });
    for (const [name, p] of Object.entries(cli.projects))
      expect({ name, exists: existsSync(join(root, p.root)) }).toEqual({ name, exists: true });
  });
});
