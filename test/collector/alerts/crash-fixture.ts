import type { Reason } from '../../../shared/src/report/types.js';

export const SECRET = 'crash-test-webhook-secret-0123';
export const VBIOS_DRIFT: Reason = {
  code: 'gpu.vbios_changed',
  claim: 'firmware',
  detail: 'GPU 0 VBIOS changed',
  before: '96.00.5E.00.01',
  after: '96.00.5E.00.02',
};
