/**
 * The back-end services reachable over RabbitMQ RPC. The name doubles as the first segment of
 * every RPC pattern the service answers (`<service>.<noun>.<verb>`).
 * Never rename a service without migrating its queue: the queue name is derived from it.
 */
export const SERVICE_NAMES = ['registry', 'knowledge', 'analysis-worker', 'github-sync', 'deployer'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** The RPC queue of a service inside a namespace (namespaces isolate test runs on one broker). */
export function rpcQueueName(namespace: string, service: ServiceName): string {
  return `${namespace}.${service}.rpc`;
}
