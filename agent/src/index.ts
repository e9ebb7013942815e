export * from './tpm/index.js';
export * from './ports/index.js';
export { collectInventory, SOURCE_NAMES, type CollectOptions, type InventoryResult } from './inventory.js';
export { parseNvidiaSmiXml, type NvidiaSmiLog } from './collectors/nvidia-smi-xml.js';
