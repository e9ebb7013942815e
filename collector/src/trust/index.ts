import type { HostlistLimits } from '../../../shared/src/hostlist.js';
import type { CollectorEvents } from '../events.js';
import type { Route } from '../http/router.js';
import type { Store } from '../store/store.js';
import { TrustCache, type TrustCacheOptions } from './cache.js';
import { trustRoutes } from './routes.js';
import { TrustWatchHub, type TrustWatchOptions } from './watch.js';

export { TrustCache, STALE_REASON_CODE, REVOKED_REASON_CODE, type TrustView, type TrustChange, type TrustCacheOptions } from './cache.js';
export { TrustWatchHub, type TrustWatchOptions } from './watch.js';
export { trustRoutes } from './routes.js';
export { bulkAttestRoutes, type Challenger } from './attest-bulk.js';
export { ERR_TRUST_NODE_UNKNOWN, ERR_TRUST_WATCH_LIMIT, ERR_TRUST_QUERY } from './errors.js';

export interface TrustModule {
  cache: TrustCache;
  watch: TrustWatchHub;
  routes: Route[];
  close(): void;
}

/**
 * The trust feature's one entry point for buildApp: loads the cache from the store, follows
 * the event bus, and returns the routes. Add `routes` to the router BEFORE the nodes API so
 * GET /v1/nodes/:id/trust is answered from memory.
 */
export async function createTrust(deps: {
  store: Pick<Store, 'listNodes'>;
  events: CollectorEvents;
  cache?: TrustCacheOptions;
  watch?: TrustWatchOptions;
  hostlistLimits?: Partial<HostlistLimits>;
  /**
   * Follow this collector's event bus (default). In cluster mode the change feed of the shared
   * database drives the cache instead (setFromRecord), so every collector reads the same records.
   */
  followEvents?: boolean;
}): Promise<TrustModule> {
  const cache = new TrustCache(deps.cache);
  // Attach first so that nothing published while loading is lost; load then overwrites with stored state
  // only for nodes the bus has not already updated.
  if (deps.followEvents !== false) cache.attach(deps.events);
  await cache.load(deps.store);
  const watch = new TrustWatchHub(cache, deps.watch);
  const routes = trustRoutes({ cache, watch, ...(deps.hostlistLimits ? { hostlistLimits: deps.hostlistLimits } : {}) });
  return {
    cache,
    watch,
    routes,
    close() {
      watch.close();
      cache.close();
    },
  };
}
