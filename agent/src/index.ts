export * from './tpm/index.js';
export * from './ports/index.js';
export { collectInventory, SOURCE_NAMES, type CollectOptions, type InventoryResult } from './inventory.js';
export { parseNvidiaSmiXml, type NvidiaSmiLog } from './collectors/nvidia-smi-xml.js';
export { AgentDaemon, AGENT_VERSION, type DaemonOptions, type DaemonState, type DaemonEvents } from './daemon/daemon.js';
export { hostEvidenceSource, type EvidenceSource } from './daemon/evidence.js';
export { Spool, DEFAULT_SPOOL_LIMITS, type SpoolLimits } from './daemon/spool.js';
export { loadOrCreateIdentity } from './daemon/identity.js';
export { fullJitterDelay, jitteredInterval } from './daemon/backoff.js';
export * from './daemon/errors.js';
export {
  loadAgentConfig,
  resolveAgentConfig,
  defaultAgentConfig,
  AGENT_CONFIG_OPTIONS,
  type AgentConfig,
  type AgentConfigSources,
} from './config.js';
export { agentCheck, renderCheck, type AgentCheckReport, type CheckItem } from './cli/agent-check.js';
