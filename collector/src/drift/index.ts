export { DRIFT_CODES, reason, type DriftCode } from './codes.js';
export { diffInventory, MAX_REASONS_PER_SECTION } from './inventory.js';
export { diffGpus, gpuName } from './gpu.js';
export { diffNics, diffHcas, diffDisks, diffPci } from './devices.js';
export { diffPlatform, diffCpu, diffKernel, diffSecureBoot } from './platform.js';
export {
  diffPcrs,
  pcrClaim,
  explainWithEventLogs,
  MAX_EVENTS_PER_REASON,
  type PcrEvidence,
  type PcrExplainer,
  type PcrBanks,
} from './pcrs.js';
export { diffAk, akFingerprint } from './ak.js';
export { createInventoryDiffer, type InventoryDiffer } from './unchanged.js';
export { matchDevices, ident, pciAddr } from './match.js';
