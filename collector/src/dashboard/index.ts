import type { CollectorEvents } from '../events.js';
import type { Route } from '../http/router.js';
import type { Store } from '../store/store.js';
import { FleetIndex, type TrustSource } from './fleet.js';
import { dashboardRoutes } from './routes.js';

export { FleetIndex, type FleetPage, type FleetQuery, type FleetRow, type TrustSource } from './fleet.js';
export { dashboardRoutes, ERR_DASHBOARD_NODE, ERR_DASHBOARD_QUERY } from './routes.js';
export { loadAssets } from './assets.js';

export interface DashboardDeps {
  store: Store;
  events: CollectorEvents;
  trust?: TrustSource;
  isConnected?: (nodeId: string) => boolean;
}

/** Loads the fleet view and returns the dashboard's routes; close() unsubscribes from the bus. */
export async function createDashboard(deps: DashboardDeps): Promise<{ routes: Route[]; fleet: FleetIndex; close(): void }> {
  const fleet = new FleetIndex({ store: deps.store, events: deps.events, trust: deps.trust, isConnected: deps.isConnected });
  await fleet.load();
  return {
    routes: dashboardRoutes({ store: deps.store, fleet, trust: deps.trust, isConnected: deps.isConnected }),
    fleet,
    close: () => fleet.close(),
  };
}
