/**
 * Second reference for the benchmarks: an empty Nest 12 app on the Fastify adapter with one route
 * (no auth, no hooks). The gap between it and raw Fastify is the framework's own cost; the gap
 * between it and a gateway route is what the platform adds.
 */
import 'reflect-metadata';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';

@Controller()
class HelloController {
  @Get('hello')
  hello() {
    return { hello: 'world' };
  }
}

@Module({ controllers: [HelloController] })
class HelloModule {}

async function main() {
  const app = await NestFactory.create<NestFastifyApplication>(HelloModule, new FastifyAdapter(), { logger: false });
  await app.listen(Number(process.argv[2] ?? 0), '127.0.0.1');
  process.stdout.write(`listening ${await app.getUrl()}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(String(err));
  process.exit(1);
});
