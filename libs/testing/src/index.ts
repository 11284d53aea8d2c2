export * from './isolation';
export * from './platform';
export * from './http-client';
export * from './mongo/server';
export * from './corpus';
export * from './until';
export * from './sse-client';
export * from './events';
