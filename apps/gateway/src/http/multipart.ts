import multipart, { type FastifyMultipartOptions } from '@fastify/multipart';
import type { FastifyInstance, FastifyPluginCallback } from 'fastify';

/** The hooks @fastify/multipart adds to every route of the server: they only clean up disk-mode temporary files. */
const DISK_MODE_HOOKS = new Set(['onRequest', 'onResponse']);

function refuseDiskMode(): never {
  throw new Error('multipart disk mode (saveRequestFiles) is not enabled in this gateway: read uploads with request.parts()');
}

/**
 * @fastify/multipart in stream mode only — uploads are read with `request.parts()`, which is all
 * the gateway uses. The plugin also adds an async onRequest and an async onResponse hook to every
 * route of the server (a 'close' listener, two promises and a temporary-file sweep per request,
 * measured at about 5 % of a cached read's allocations); they exist only to delete the temporary
 * files of its disk mode. They are left out, and disk mode is refused, so no temporary file can
 * ever be written and left behind. Everything else (content-type parser, limits, decorators) is
 * the plugin's own, registered on the root context as the plugin itself would be.
 */
export const streamingMultipart: FastifyPluginCallback<FastifyMultipartOptions> = (fastify, options, done) => {
  const scoped: FastifyInstance = new Proxy(fastify, {
    get(target, prop) {
      if (prop === 'addHook')
        return (name: string, hook: never) => {
          if (!DISK_MODE_HOOKS.has(name)) target.addHook(name as never, hook);
          return scoped;
        };
      if (prop === 'decorateRequest')
        return (name: string, value: unknown, deps?: string[]) => {
          target.decorateRequest(name, name === 'saveRequestFiles' ? refuseDiskMode : value, deps);
          return scoped;
        };
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  (multipart as unknown as FastifyPluginCallback<FastifyMultipartOptions>)(scoped, options, done);
};
// Like fastify-plugin: the parser and decorators apply to the whole server, not a child context.
Object.assign(streamingMultipart, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: '@fastify/multipart (stream mode)',
});
