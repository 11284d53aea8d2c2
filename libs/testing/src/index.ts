export * from './isolation';
export * from './platform';
export * from './http-client';
