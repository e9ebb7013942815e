import { z } from 'zod';
import { NodesealError } from '../errors.js';
import type { AgentMessage, CollectorMessage, ReportPayload } from './types.js';

/**
 * Strict schemas for everything that crosses the wire: the report payload (inside the JWS) and
 * the WebSocket messages in both directions. Unknown members are refused; strings and arrays are
 * bounded so a hostile peer cannot make us hold unbounded data. Each parse failure is a coded
 * NodesealError naming the first offending path.
 */
export const ERR_REPORT_SCHEMA = 'ERR_REPORT_SCHEMA';
export const ERR_MSG_SCHEMA = 'ERR_MSG_SCHEMA';
export const ERR_MSG_JSON = 'ERR_MSG_JSON';

const str = (max = 512) => z.string().max(max);
const nstr = (max = 512) => z.string().max(max).nullable();
const hex = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[0-9a-f]*$/);
const list = <T extends z.ZodType>(item: T, max = 4096) => z.array(item).max(max);
const stringMap = (valueSchema: z.ZodType, maxKeys = 256) =>
  z.record(str(128), valueSchema).refine((r) => Object.keys(r).length <= maxKeys, { message: `at most ${maxKeys} keys` });

const sourceStatus = z.strictObject({
  status: z.enum(['ok', 'unavailable', 'error']),
  reason: str(2048).optional(),
  code: str(64).optional(),
});

const gpu = z.strictObject({
  index: z.number().int().min(0).max(4096),
  uuid: nstr(),
  serial: nstr(),
  productName: nstr(),
  productBrand: nstr(),
  architecture: nstr(),
  pciBusId: nstr(),
  pciDeviceId: nstr(),
  pciSubsystemId: nstr(),
  boardPartNumber: nstr(),
  boardId: nstr(),
  gpuPartNumber: nstr(),
  vbiosVersion: nstr(),
  inforom: z.strictObject({ image: nstr(), oem: nstr(), ecc: nstr(), power: nstr() }),
  gspFirmwareVersion: nstr(),
  driverVersion: nstr(),
  cudaVersion: nstr(),
  migMode: nstr(),
  eccMode: nstr(),
  persistenceMode: nstr(),
  confidentialCompute: stringMap(str(1024)).nullable(),
  fabric: stringMap(str(1024)).nullable(),
});

const platform = z.strictObject({
  systemVendor: nstr(),
  systemProduct: nstr(),
  systemSerial: nstr(),
  systemUuid: nstr(),
  boardVendor: nstr(),
  boardName: nstr(),
  boardSerial: nstr(),
  biosVendor: nstr(),
  biosVersion: nstr(),
  biosDate: nstr(),
  chassisType: nstr(),
  chassisSerial: nstr(),
  bmcFirmware: nstr(),
});
const cpu = z.strictObject({ model: nstr(), microcode: nstr(), sockets: z.number().int().min(0).max(1024).nullable() });
const kernel = z.strictObject({ release: nstr(), cmdlineDigest: nstr(80), nvidiaModuleVersion: nstr() });
const secureBoot = z.strictObject({ enabled: z.boolean().nullable(), setupMode: z.boolean().nullable() });
const nic = z.strictObject({
  name: str(64),
  driver: nstr(),
  driverVersion: nstr(),
  firmwareVersion: nstr(),
  busInfo: nstr(),
  permanentMac: nstr(64),
});
const hca = z.strictObject({
  name: str(64),
  hcaType: nstr(),
  boardId: nstr(),
  fwVersion: nstr(),
  nodeGuid: nstr(),
  ports: list(z.strictObject({ port: z.number().int().min(0).max(1024), linkLayer: nstr(), state: nstr() }), 64),
});
const disk = z.strictObject({ name: str(64), model: nstr(), serial: nstr(), firmwareRevision: nstr() });
const pci = z.strictObject({
  address: str(32),
  vendor: str(16),
  device: str(16),
  subsystemVendor: nstr(16),
  subsystemDevice: nstr(16),
  class: str(16),
});

export const inventorySchema = z.strictObject({
  platform: platform.nullable(),
  cpu: cpu.nullable(),
  kernel: kernel.nullable(),
  secureBoot: secureBoot.nullable(),
  gpus: list(gpu, 256),
  nvswitches: list(stringMap(nstr(1024)), 256),
  nics: list(nic, 1024),
  hcas: list(hca, 256),
  disks: list(disk, 1024),
  pci: list(pci, 8192),
  sources: stringMap(sourceStatus, 64),
});

const pcrBank = stringMap(hex(128), 24);
const tpmOk = z.strictObject({
  status: z.literal('ok'),
  pcrs: z.partialRecord(z.enum(['sha1', 'sha256', 'sha384', 'sha512', 'sm3_256']), pcrBank),
  quote: z.strictObject({ attest: hex(4096), signature: hex(4096) }),
  akPublic: hex(4096),
  /** Event logs are at most a few hundred KiB; 3 MiB of base64 stays under the 4 MiB frame cap. */
  eventLog: z
    .string()
    .max(3 * 1024 * 1024)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/)
    .nullable(),
  eventLogStatus: sourceStatus.optional(),
});
const tpmUnavailable = z.strictObject({ status: z.enum(['unavailable', 'error']), reason: str(2048), code: str(64) });

export const nodeIdSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'node id: letters, digits, dot, dash, underscore');
export const nonceSchema = z.string().regex(/^[0-9a-f]{32,128}$/, 'nonce: 32 to 128 lowercase hex digits');

export const reportPayloadSchema = z.strictObject({
  v: z.literal(1),
  nodeId: nodeIdSchema,
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  nonce: nonceSchema.nullable(),
  collectedAt: z
    .string()
    .max(64)
    .refine((s) => !Number.isNaN(Date.parse(s)), 'collectedAt: RFC 3339 time'),
  inventory: inventorySchema,
  inventoryDigest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  tpm: z.discriminatedUnion('status', [tpmOk, tpmUnavailable]),
  spoolBacklog: z.number().int().min(0).max(1_000_000).optional(),
  nextKey: z
    .strictObject({
      jwk: z.record(str(16), z.unknown()).refine((r) => Object.keys(r).length <= 16, 'jwk: at most 16 members'),
      kid: z
        .string()
        .min(1)
        .max(128)
        .regex(/^[A-Za-z0-9_-]+$/),
    })
    .optional(),
});

const reason = z.strictObject({
  code: str(128),
  claim: z.enum(['hardware', 'firmware', 'configuration', 'instance-identity', 'executables']),
  detail: str(4096),
  before: z.unknown().optional(),
  after: z.unknown().optional(),
});

export const agentMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('hello'),
    nodeId: nodeIdSchema,
    agentVersion: str(64),
    kid: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9_-]+$/),
    jwk: z
      .record(str(16), z.unknown())
      .refine((r) => Object.keys(r).length <= 16, 'jwk: at most 16 members')
      .optional(),
    enrollToken: str(4096).optional(),
    ekPublic: hex(2048).optional(),
    ekCert: z
      .string()
      .max(22_000)
      .regex(/^[A-Za-z0-9+/]*={0,2}$/)
      .nullable()
      .optional(),
    akPublic: hex(2048).optional(),
  }),
  z.strictObject({
    type: z.literal('report'),
    jws: z
      .string()
      .min(1)
      .max(8 * 1024 * 1024),
  }),
  z.strictObject({ type: z.literal('enroll-answer'), challengeId: z.string().regex(/^[0-9a-f]{32}$/), credential: hex(128) }),
]);

export const collectorMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('challenge'),
    nonce: nonceSchema,
    intervalSec: z.number().min(0.1).max(86_400),
    next: z.boolean().optional(),
  }),
  z.strictObject({
    type: z.literal('verdict'),
    seq: z.number().int().min(0),
    status: z.enum(['trusted', 'untrusted', 'unknown', 'stale']),
    reasons: list(reason, 1024),
  }),
  z.strictObject({ type: z.literal('ack'), seq: z.number().int().min(0) }),
  z.strictObject({ type: z.literal('error'), code: z.string().max(64), message: str(4096), seq: z.number().int().min(0).optional() }),
  z.strictObject({
    type: z.literal('enroll-challenge'),
    challengeId: z.string().regex(/^[0-9a-f]{32}$/),
    credentialBlob: hex(4096),
    secret: hex(4096),
  }),
]);

function fail(code: string, what: string, err: z.ZodError): NodesealError {
  const first = err.issues[0];
  // An unknown member is named in the path itself (zod reports it on the parent object).
  const keys = first && first.code === 'unrecognized_keys' ? first.keys : [];
  const path = first ? [...first.path.map(String), ...keys.slice(0, 1)].join('.') : '';
  const msg = first ? `${what}: ${path ? `${path}: ` : ''}${first.message}` : `${what}: invalid`;
  return new NodesealError(code, msg.slice(0, 300), { details: { path, issues: err.issues.length } });
}

function parseWith<T>(schema: z.ZodType, value: unknown, code: string, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw fail(code, what, r.error);
  return r.data as T;
}

/** Parses the JSON text of a WebSocket frame; invalid JSON is ERR_MSG_JSON. */
export function parseJsonFrame(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new NodesealError(ERR_MSG_JSON, 'frame is not valid JSON', { cause: e });
  }
}

export function parseReportPayload(value: unknown): ReportPayload {
  return parseWith<ReportPayload>(reportPayloadSchema, value, ERR_REPORT_SCHEMA, 'report payload');
}
export function parseAgentMessage(value: unknown): AgentMessage {
  return parseWith<AgentMessage>(agentMessageSchema, value, ERR_MSG_SCHEMA, 'agent message');
}
export function parseCollectorMessage(value: unknown): CollectorMessage {
  return parseWith<CollectorMessage>(collectorMessageSchema, value, ERR_MSG_SCHEMA, 'collector message');
}
