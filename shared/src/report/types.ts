/**
 * The evidence contract between agent and collector (report payload v1).
 * See docs/ARCHITECTURE.md "Evidence". Validation of untrusted payloads lives in
 * report/schema.ts; these are the shapes after parsing.
 */

/** Status of one inventory source (gpu, platform, cpu, nics, hcas, disks, pci, tpm ...). */
export interface SourceStatus {
  status: 'ok' | 'unavailable' | 'error';
  /** Human-readable reason when not ok. */
  reason?: string;
  /** Stable error code when not ok. */
  code?: string;
}

export interface Gpu {
  index: number;
  uuid: string | null;
  serial: string | null;
  productName: string | null;
  productBrand: string | null;
  architecture: string | null;
  pciBusId: string | null;
  pciDeviceId: string | null;
  pciSubsystemId: string | null;
  boardPartNumber: string | null;
  boardId: string | null;
  gpuPartNumber: string | null;
  vbiosVersion: string | null;
  inforom: { image: string | null; oem: string | null; ecc: string | null; power: string | null };
  gspFirmwareVersion: string | null;
  driverVersion: string | null;
  cudaVersion: string | null;
  migMode: string | null;
  eccMode: string | null;
  persistenceMode: string | null;
  /** Confidential-computing / attestation fields present in the output, verbatim. */
  confidentialCompute: Record<string, string> | null;
  /** NVLink / fabric identity fields present in the output (not link counters). */
  fabric: Record<string, string> | null;
}

export interface Platform {
  systemVendor: string | null;
  systemProduct: string | null;
  systemSerial: string | null;
  systemUuid: string | null;
  boardVendor: string | null;
  boardName: string | null;
  boardSerial: string | null;
  biosVendor: string | null;
  biosVersion: string | null;
  biosDate: string | null;
  chassisType: string | null;
  chassisSerial: string | null;
  bmcFirmware: string | null;
}

export interface Cpu {
  model: string | null;
  microcode: string | null;
  sockets: number | null;
}

export interface Kernel {
  release: string | null;
  /** sha256:<hex> of /proc/cmdline (the command line itself may hold secrets). */
  cmdlineDigest: string | null;
  nvidiaModuleVersion: string | null;
}

export interface SecureBootState {
  enabled: boolean | null;
  setupMode: boolean | null;
}

export interface Nic {
  name: string;
  driver: string | null;
  driverVersion: string | null;
  firmwareVersion: string | null;
  busInfo: string | null;
  permanentMac: string | null;
}

export interface HcaPort {
  port: number;
  linkLayer: string | null;
  state: string | null;
}

export interface Hca {
  name: string;
  hcaType: string | null;
  boardId: string | null;
  fwVersion: string | null;
  nodeGuid: string | null;
  ports: HcaPort[];
}

export interface Disk {
  name: string;
  model: string | null;
  serial: string | null;
  firmwareRevision: string | null;
}

export interface PciDevice {
  address: string;
  vendor: string;
  device: string;
  subsystemVendor: string | null;
  subsystemDevice: string | null;
  class: string;
}

export interface Inventory {
  platform: Platform | null;
  cpu: Cpu | null;
  kernel: Kernel | null;
  secureBoot: SecureBootState | null;
  gpus: Gpu[];
  nvswitches: Array<Record<string, string | null>>;
  nics: Nic[];
  hcas: Hca[];
  disks: Disk[];
  pci: PciDevice[];
  sources: Record<string, SourceStatus>;
}

/** Hex-encoded TPM wire structures, as produced by tpm2-tss Marshal and read by shared/src/tpm. */
export interface TpmQuoteEvidence {
  /** TPMS_ATTEST bytes (the inner attest, without the TPM2B size), lowercase hex. */
  attest: string;
  /** TPMT_SIGNATURE wire bytes, lowercase hex. */
  signature: string;
}

export interface TpmEvidenceOk {
  status: 'ok';
  /** PCR values per bank: { sha256: { "0": hex, ... }, sha1: {...} }. */
  pcrs: Record<string, Record<string, string>>;
  quote: TpmQuoteEvidence;
  /** TPM2B_PUBLIC bytes of the attestation key, lowercase hex. */
  akPublic: string;
  /** Raw TCG event log (binary_bios_measurements), base64; null when unreadable. */
  eventLog: string | null;
  eventLogStatus?: SourceStatus;
}

export interface TpmEvidenceUnavailable {
  status: 'unavailable' | 'error';
  reason: string;
  code: string;
}

export type TpmEvidence = TpmEvidenceOk | TpmEvidenceUnavailable;

/** The JWS payload of a report. */
export interface ReportPayload {
  v: 1;
  nodeId: string;
  seq: number;
  /** Collector's challenge nonce (hex); null for reports made while disconnected. */
  nonce: string | null;
  /** RFC 3339 time of collection, by the agent's clock (informational). */
  collectedAt: string;
  inventory: Inventory;
  inventoryDigest: string;
  tpm: TpmEvidence;
  /** Agent's spool backlog at signing time (for metrics). */
  spoolBacklog?: number;
  /**
   * JWS key rotation: the agent's next public key and its RFC 7638 thumbprint, announced inside a
   * report signed by the current (pinned) key. After that report's verdict the collector verifies
   * with the new key only.
   */
  nextKey?: { jwk: Record<string, unknown>; kid: string };
}

export type TrustStatus = 'trusted' | 'untrusted' | 'unknown' | 'stale';
export type Claim = 'hardware' | 'firmware' | 'configuration' | 'instance-identity' | 'executables';

export interface Reason {
  code: string;
  claim: Claim;
  detail: string;
  before?: unknown;
  after?: unknown;
}

export interface Verdict {
  status: TrustStatus;
  reasons: Reason[];
}

/** The WebSocket messages moved to the wire-protocol module; re-exported for the code that reads them from here. */
export type { AgentMessage, CollectorMessage } from '../protocol/messages.js';
export { WS_PATH, WS_SUBPROTOCOL } from '../protocol/messages.js';

export const REPORT_JWS_TYP = 'nodeseal-report+jws';
