export { canonicaliseInventory, inventoryDigest } from './canonicalise.js';
