import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, CompactSign, exportJWK, type JWK } from 'jose';
import WebSocket from 'ws';
import { inventoryDigest } from '../../../shared/src/inventory/canonicalise.js';
import { simulatedBootLog } from '../../../shared/src/eventlog/index.js';
import { softwareQuote } from '../../../shared/src/tpm/index.js';
import type { CollectorMessage, Inventory, ReportPayload } from '../../../shared/src/report/types.js';
import { REPORT_JWS_TYP, WS_PATH, WS_SUBPROTOCOL } from '../../../shared/src/report/types.js';

/**
 * A protocol-level agent for operator-surface tests: real WebSocket, real ES256 JWS, a real
 * TPM-format quote made with a software AK over a simulated UEFI boot log (shared/src builders),
 * and a real recorded inventory. It answers every challenge with the current inventory and boot
 * variant, so a test changes `inventory` or `bootVariant` and attests to make drift happen.
 */
export interface SimAgent {
  nodeId: string;
  inventory: Inventory;
  bootVariant: string;
  /** Verdicts received, in order. */
  verdicts: Array<Extract<CollectorMessage, { type: 'verdict' }>>;
  errors: Array<Extract<CollectorMessage, { type: 'error' }>>;
  /** Resolves with the next verdict after the call. */
  nextVerdict(timeoutMs?: number): Promise<Extract<CollectorMessage, { type: 'verdict' }>>;
  close(): Promise<void>;
}

export async function startSimAgent(wsUrl: string, nodeId: string, inventory: Inventory): Promise<SimAgent> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ak: KeyObject = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const jwk = (await exportJWK(publicKey)) as JWK;
  const kid = await calculateJwkThumbprint(jwk);
  const ws = new WebSocket(`${wsUrl}${WS_PATH}`, WS_SUBPROTOCOL);
  let seq = 0;
  const waiters: Array<(v: Extract<CollectorMessage, { type: 'verdict' }>) => void> = [];
  const agent: SimAgent = {
    nodeId,
    inventory,
    bootVariant: '',
    verdicts: [],
    errors: [],
    nextVerdict(timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`sim agent ${nodeId}: no verdict within ${timeoutMs} ms (errors: ${JSON.stringify(agent.errors)})`)), timeoutMs);
        waiters.push((v) => {
          clearTimeout(t);
          resolve(v);
        });
      });
    },
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      await new Promise<void>((r) => {
        ws.once('close', () => r());
        ws.close();
      });
    },
  };

  const report = async (nonce: string) => {
    const boot = simulatedBootLog(40, { variant: agent.bootVariant });
    const indexes = Object.keys(boot.pcrs.sha256!).map(Number).sort((a, b) => a - b);
    const q = softwareQuote({ privateKey: ak, nonce: Buffer.from(nonce, 'hex'), pcrs: { sha256: boot.pcrs.sha256! }, selection: [{ bank: 'sha256', pcrs: indexes }] });
    const payload: ReportPayload = {
      v: 1,
      nodeId,
      seq: ++seq,
      nonce,
      collectedAt: new Date().toISOString(),
      inventory: agent.inventory,
      inventoryDigest: inventoryDigest(agent.inventory),
      tpm: { status: 'ok', pcrs: { sha1: boot.pcrs.sha1!, sha256: boot.pcrs.sha256! }, quote: { attest: q.attest.toString('hex'), signature: q.signature.toString('hex') }, akPublic: q.akPublic.toString('hex'), eventLog: boot.bytes.toString('base64') },
      spoolBacklog: 0,
    };
    const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'ES256', kid, typ: REPORT_JWS_TYP }).sign(privateKey);
    ws.send(JSON.stringify({ type: 'report', jws }));
  };

  ws.on('message', (data) => {
    const m = JSON.parse(String(data)) as CollectorMessage;
    // `next: true` is the nonce for the next scheduled report (tests attest on demand instead).
    if (m.type === 'challenge') {
      if (!(m as { next?: boolean }).next) void report(m.nonce);
    }
    else if (m.type === 'verdict') {
      agent.verdicts.push(m);
      for (const w of waiters.splice(0)) w(m);
    } else if (m.type === 'error') agent.errors.push(m);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ type: 'hello', nodeId, agentVersion: 'sim-1', kid, jwk }));
  return agent;
}
