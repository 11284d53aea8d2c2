/**
 * Redis keys of the registry read cache (gateway). Every registry write bumps the generation after
 * its transaction committed; cached entries live under the generation they were read in, so an
 * entry read before a write can never be served after it — even if the reader stores it late.
 */
export const REGISTRY_CACHE_GENERATION_KEY = 'registry:cache-gen';
export const registryToolKey = (gen: string, toolId: string) => `registry:tool:${gen}:${toolId}`;
export const registryListKey = (gen: string, scope: string, queryHash: string) => `registry:list:${gen}:${scope}:${queryHash}`;
