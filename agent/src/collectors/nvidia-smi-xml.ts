import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { Gpu } from '../../../shared/src/report/types.js';
import { NodesealError } from '../../../shared/src/errors.js';
import { ERR_NVIDIA_SMI_EMPTY, ERR_NVIDIA_SMI_SCHEMA, ERR_NVIDIA_SMI_TEXT_FORMAT, ERR_NVIDIA_SMI_XML } from './errors.js';

/**
 * Parser for `nvidia-smi -q -x` (schema nvsmi_device_v9 .. v13). Pure: text in, GPUs out.
 * Only identity-, firmware- and configuration-bearing fields are kept; counters, clocks,
 * temperatures, utilisation, memory use, power, fans and processes are ignored.
 */
export interface NvidiaSmiLog {
  driverVersion: string | null;
  cudaVersion: string | null;
  gpus: Gpu[];
}

type XmlNode = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  isArray: (_name, jpath) => jpath === 'nvidia_smi_log.gpu',
});

/** Values nvidia-smi prints when it has nothing to say. */
const EMPTY_VALUES = new Set(['', 'N/A', 'n/a', 'Not Available', '[N/A]']);

function text(v: unknown): string | null {
  if (typeof v === 'string') return EMPTY_VALUES.has(v.trim()) ? null : v.trim();
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v && typeof v === 'object' && '#text' in v) return text((v as XmlNode)['#text']);
  return null;
}

function node(v: unknown): XmlNode {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as XmlNode) : {};
}

/** Flatten the leaves of an element into `prefix.key` strings, dropping empty values. */
function flatten(v: unknown, prefix: string, out: Record<string, string>, skip: (key: string) => boolean): void {
  if (v && typeof v === 'object' && !Array.isArray(v) && !('#text' in v)) {
    for (const [k, child] of Object.entries(v as XmlNode))
      if (!k.startsWith('@_') && !skip(k)) flatten(child, prefix ? `${prefix}.${k}` : k, out, skip);
    return;
  }
  const t = text(v);
  if (t !== null && prefix) out[prefix] = t;
}

/** Confidential-computing / attestation elements, verbatim; usage counters excluded. */
function confidential(root: XmlNode, gpu: XmlNode): Record<string, string> | null {
  const out: Record<string, string> = {};
  const isCc = (k: string) => /^(conf_compute|cc_|confidential|attestation)/i.test(k) && !/memory_usage|protected_memory/i.test(k);
  for (const [src, prefix] of [
    [root, 'system'],
    [gpu, 'gpu'],
  ] as const) {
    for (const [k, v] of Object.entries(src))
      if (isCc(k)) flatten(v, `${prefix}.${k}`, out, (c) => /memory_usage|protected_memory/i.test(c));
  }
  return Object.keys(out).length ? out : null;
}

/** NVLink / fabric identity (clique, cluster, module, slot, fabric GUID); health and link state excluded. */
function fabric(gpu: XmlNode): Record<string, string> | null {
  const out: Record<string, string> = {};
  const f = node(gpu.fabric);
  for (const k of ['cliqueId', 'clusterUuid']) {
    const t = text(f[k]);
    if (t !== null) out[`fabric.${k}`] = t;
  }
  flatten(gpu.platformInfo, 'platformInfo', out, () => false);
  const moduleId = text(gpu.gpu_module_id);
  if (moduleId !== null) out.gpu_module_id = moduleId;
  return Object.keys(out).length ? out : null;
}

function parseGpu(g: XmlNode, index: number, driverVersion: string | null, cudaVersion: string | null): Gpu {
  const pci = node(g.pci);
  const inforom = node(g.inforom_version);
  return {
    index,
    uuid: text(g.uuid),
    serial: text(g.serial),
    productName: text(g.product_name),
    productBrand: text(g.product_brand),
    architecture: text(g.product_architecture),
    pciBusId: text(pci.pci_bus_id) ?? text(g['@_id']),
    pciDeviceId: text(pci.pci_device_id),
    pciSubsystemId: text(pci.pci_sub_system_id),
    boardPartNumber: text(g.board_part_number),
    boardId: text(g.board_id),
    gpuPartNumber: text(g.gpu_part_number),
    vbiosVersion: text(g.vbios_version),
    inforom: {
      image: text(inforom.img_version),
      oem: text(inforom.oem_object),
      ecc: text(inforom.ecc_object),
      power: text(inforom.pwr_object),
    },
    gspFirmwareVersion: text(g.gsp_firmware_version),
    driverVersion,
    cudaVersion,
    migMode: text(node(g.mig_mode).current_mig),
    eccMode: text(node(g.ecc_mode).current_ecc),
    persistenceMode: text(g.persistence_mode),
    confidentialCompute: null,
    fabric: fabric(g),
  };
}

function fail(code: string, message: string, details?: Record<string, unknown>): never {
  throw new NodesealError(code, message, details ? { details } : {});
}

/** Parse `nvidia-smi -q -x` output. Throws NodesealError coded as in collectors/errors.ts. */
export function parseNvidiaSmiXml(input: string): NvidiaSmiLog {
  const t = input.replace(/^\uFEFF/, '');
  if (t.trim() === '') fail(ERR_NVIDIA_SMI_EMPTY, 'nvidia-smi produced no output');
  if (/^\s*=+\s*NVSMI LOG\s*=+/m.test(t.slice(0, 400)) || (!t.trimStart().startsWith('<') && /Driver Version\s*:/.test(t))) {
    fail(ERR_NVIDIA_SMI_TEXT_FORMAT, 'this is `nvidia-smi -q` text output; the agent reads `nvidia-smi -q -x` (XML)');
  }
  // Entity declarations are never emitted by nvidia-smi and are the vector for expansion bombs.
  if (/<!ENTITY/i.test(t)) fail(ERR_NVIDIA_SMI_XML, 'nvidia-smi XML declares entities; refused');
  const valid = XMLValidator.validate(t);
  if (valid !== true) {
    fail(ERR_NVIDIA_SMI_XML, `nvidia-smi XML is malformed (line ${valid.err.line}): ${valid.err.msg.slice(0, 160)}`, {
      line: valid.err.line,
      xmlCode: valid.err.code,
    });
  }
  let doc: XmlNode;
  try {
    doc = node(parser.parse(t));
  } catch (e) {
    fail(ERR_NVIDIA_SMI_XML, `nvidia-smi XML is malformed: ${(e as Error).message.slice(0, 160)}`);
  }
  if (!('nvidia_smi_log' in doc))
    fail(ERR_NVIDIA_SMI_SCHEMA, `root element is not <nvidia_smi_log> (found ${Object.keys(doc).join(', ') || 'nothing'})`);
  const root = node(doc.nvidia_smi_log);
  const gpusRaw = root.gpu === undefined ? [] : (root.gpu as unknown[]);
  const driverVersion = text(root.driver_version);
  const cudaVersion = text(root.cuda_version);
  const gpus = gpusRaw.map((g, i) => {
    if (!g || typeof g !== 'object') fail(ERR_NVIDIA_SMI_SCHEMA, `<gpu> element ${i} has no content`, { gpu: i });
    const gpu = parseGpu(g as XmlNode, i, driverVersion, cudaVersion);
    gpu.confidentialCompute = confidential(root, g as XmlNode);
    return gpu;
  });
  // attached_gpus is not checked against the list: real samples trimmed by their publishers disagree,
  // and a truncated output already fails XML validation above.
  return { driverVersion, cudaVersion, gpus };
}
