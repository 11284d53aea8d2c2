import 'reflect-metadata';
import { ConfigError, installAmqpWriteCoalescing, JsonLogger, loadConfig, type AppConfig } from '#common';
import { createGateway } from './gateway.app';

function readConfig(): AppConfig {
  try {
    const config = loadConfig();
    if (!config.auth.jwtSecret)
      throw new ConfigError('Invalid configuration:\n  - JWT_SECRET: required by the gateway (at least 32 characters)');
    return config;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`[gateway] ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  const logger = new JsonLogger('gateway', config.logLevel);
  if (!installAmqpWriteCoalescing())
    logger.warn({ msg: 'amqplib layout not recognised: RabbitMQ frames are written one by one' }, 'Bootstrap');
  if (config.env === 'production' && /insecure|change-me/.test(config.auth.jwtSecret ?? '')) {
    logger.warn({ msg: 'JWT_SECRET is a development default: set a random secret before exposing this gateway' }, 'Bootstrap');
  }
  const app = await createGateway(config, logger);
  await app.listen(config.http.port, config.http.host);
  logger.log({ msg: 'gateway is listening', url: await app.getUrl(), docs: '/api/docs' }, 'Bootstrap');
}

void main().catch((err: unknown) => {
  process.stderr.write(`[gateway] failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
