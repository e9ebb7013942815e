export * from './tpm/index.js';
