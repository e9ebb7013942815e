export * from './codes.js';
export * from './dispositions.js';
export * from './messages.js';
