import type { Type } from '@nestjs/common';
import { IS_PUBLIC, REQUIRED_PERMISSION } from './principal';

// Nest's own metadata keys for route handlers (@nestjs/common/constants).
const PATH_METADATA = 'path';
const METHOD_METADATA = 'method';

/**
 * Route handlers that are neither @Public nor declare a @RequirePermission. The guard refuses such
 * routes at run time anyway; the gateway also refuses to start with any, so a forgotten
 * declaration is found by the first test run instead of by a user.
 */
export function routesWithoutPermission(controllers: Type[]): string[] {
  const missing: string[] = [];
  for (const controller of controllers) {
    const proto = controller.prototype as Record<string, unknown>;
    const classPublic = Reflect.getMetadata(IS_PUBLIC, controller) === true;
    const classPermission = Reflect.getMetadata(REQUIRED_PERMISSION, controller) !== undefined;
    for (const name of Object.getOwnPropertyNames(proto)) {
      const handler = proto[name];
      if (name === 'constructor' || typeof handler !== 'function') continue;
      if (Reflect.getMetadata(METHOD_METADATA, handler) === undefined || Reflect.getMetadata(PATH_METADATA, handler) === undefined)
        continue;
      const declared =
        classPublic ||
        classPermission ||
        Reflect.getMetadata(IS_PUBLIC, handler) === true ||
        Reflect.getMetadata(REQUIRED_PERMISSION, handler) !== undefined;
      if (!declared) missing.push(`${controller.name}.${name}`);
    }
  }
  return missing;
}
