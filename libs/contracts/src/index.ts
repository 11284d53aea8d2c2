export * from './services';
export * from './errors';
export * from './rpc';
export * from './events';
export * from './queues';
export * from './credentials';
export * from './registry';
export * from './knowledge';
