import type { Config } from 'jest';

/**
 * Three tiers: unit (pure logic, beside the code), integration (real MariaDB, Redis, RabbitMQ)
 * and end-to-end (the platform started as processes, spoken to over HTTP like a client).
 * Nest 12 is ESM-only, so Jest runs in its native ESM mode (`--experimental-vm-modules`) and
 * ts-jest emits ES modules; production builds are compiled by tsc.
 */
const common = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^#contracts$': '<rootDir>/libs/contracts/src/index.ts',
    '^#common$': '<rootDir>/libs/common/src/index.ts',
    '^#testing$': '<rootDir>/libs/testing/src/index.ts',
  },
  transform: {
    '^.+\\.ts$': [
      'ts-jest',
      {
        useESM: true,
        tsconfig: {
          module: 'esnext',
          moduleResolution: 'bundler',
          isolatedModules: true,
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          esModuleInterop: true,
          target: 'es2023',
          types: ['node', 'jest'],
        },
      },
    ],
  },
} satisfies Config;

const config: Config = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/*/src/**/*.spec.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/{apps,libs}/*/test/**/*.int-spec.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/apps/*/test/**/*.e2e-spec.ts'] },
  ],
};

export default config;
