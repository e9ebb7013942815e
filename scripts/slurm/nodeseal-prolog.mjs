#!/usr/bin/env node
// nodeseal Slurm prolog: asks the collector whether this node is trusted before a job starts.
//
// Exit status: 0 trusted; 1 not trusted (untrusted, stale, unknown, never seen);
//              3 collector unreachable or answer unreadable (fail-closed; 0 when fail-open);
//              2 bad configuration.
// Slurm drains a node whose prolog exits non-zero and requeues the job.
//
// Settings (environment, or KEY=VALUE lines in the file named by NODESEAL_PROLOG_CONFIG,
// default /etc/nodeseal/prolog.env; the environment wins):
//   NODESEAL_URL        collector base URL (required), e.g. https://collector.example:8443; several collectors:
//                       comma-separated, tried in order when one cannot be reached (a POST only when it cannot
//                       have arrived: connection refused or DNS, never after a timeout)
//   NODESEAL_TOKEN      bearer token (role viewer or scheduler); or NODESEAL_TOKEN_FILE
//   NODESEAL_NODE       node id to ask about (default: $SLURMD_NODENAME, else the short hostname)
//   NODESEAL_FRESH      seconds: ask for fresh attestation first (POST /v1/nodes/ID/attest?wait=SEC); 0 = off (default)
//   NODESEAL_TIMEOUT    seconds for each HTTP request (default 5; fresh requests get FRESH + TIMEOUT)
//   NODESEAL_FAIL_OPEN  1 = let jobs run when the collector cannot be reached (default 0: fail-closed)
//   NODESEAL_CA_FILE    extra CA certificate (PEM) for the collector's TLS certificate
//   NODESEAL_DRAIN      1 (default when SLURMD_NODENAME is set, as in a prolog) = before refusing a job, drain this node with
//                       Reason="nodeseal: prolog ..." so that the collector's Slurm integration resumes it
//                       once it is trusted again (Slurm's own "Prolog error" drain needs an admin); 0 = off
//   NODESEAL_SCONTROL   path of scontrol (default: scontrol on PATH)
// No dependencies beyond Node.js 20.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import http from 'node:http';
import https from 'node:https';

let lastMessage = '';
const out = (msg) => {
  lastMessage = msg;
  process.stderr.write(`nodeseal-prolog: ${msg}\n`);
};

function loadConfig() {
  const file = process.env.NODESEAL_PROLOG_CONFIG ?? '/etc/nodeseal/prolog.env';
  const cfg = {};
  let text = null;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (process.env.NODESEAL_PROLOG_CONFIG && e.code !== 'ENOENT') throw new Error(`cannot read ${file}: ${e.code}`);
  }
  if (text !== null) {
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
      if (!m) throw new Error(`bad line in ${file}`);
      cfg[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
    }
  }
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('NODESEAL_')) cfg[k] = v;
  return cfg;
}

function seconds(v, def, name) {
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 600) throw new Error(`${name} must be seconds between 0 and 600`);
  return n;
}

/** One request with a hard deadline; resolves {status, body} or rejects (unreachable/timeout). */
function request(method, url, { token, ca, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const headers = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const req = mod.request(u, { method, headers, ...(ca ? { ca } : {}) }, (res) => {
      let body = '';
      let size = 0;
      res.setEncoding('utf8');
      res.on('data', (c) => {
        size += c.length;
        if (size > 1 << 20) req.destroy(new Error('answer too large'));
        else body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end();
  });
}

/** Socket errors raised before the request reached the server (same list as shared/src/failover.ts). */
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
function cannotHaveArrived(e) {
  if (!e || typeof e !== 'object') return false;
  if (Array.isArray(e.errors) && e.errors.length > 0) return e.errors.every(cannotHaveArrived);
  return NEVER_CONNECTED.has(e.code) || (e.cause !== undefined && e.cause !== e && cannotHaveArrived(e.cause));
}

/** The request against each collector in turn until one answers (see NODESEAL_URL). */
async function requestAny(method, bases, path, opts) {
  const failures = [];
  for (const base of bases) {
    try {
      return await request(method, `${base}${path}`, opts);
    } catch (e) {
      failures.push(`${new URL(base).host}: ${e.code ?? e.message}`);
      if (method !== 'GET' && !cannotHaveArrived(e)) break;
    }
  }
  throw new Error(failures.join('; '));
}

function statusOf(body) {
  const j = JSON.parse(body);
  if (j && typeof j === 'object') {
    if (typeof j.status === 'string') return { status: j.status, reasons: Array.isArray(j.reasons) ? j.reasons : [] };
    if (j.verdict && typeof j.verdict.status === 'string')
      return { status: j.verdict.status, reasons: Array.isArray(j.verdict.reasons) ? j.verdict.reasons : [] };
  }
  throw new Error('answer has no status');
}

let settings = {};

async function main() {
  const code = await decide();
  if (code === 1 || code === 3) drainSelf(settings, lastMessage);
  return code;
}

async function decide() {
  let cfg;
  let bases;
  let node;
  let fresh;
  let timeoutMs;
  let ca;
  try {
    cfg = loadConfig();
    settings = cfg;
    if (!cfg.NODESEAL_URL) throw new Error('NODESEAL_URL is not set');
    bases = [
      ...new Set(
        cfg.NODESEAL_URL.split(',')
          .map((u) => u.trim())
          .filter(Boolean),
      ),
    ].map((u) => {
      let b;
      try {
        b = new URL(u);
      } catch {
        throw new Error(`NODESEAL_URL ${JSON.stringify(u).slice(0, 80)} is not a URL`);
      }
      if (b.protocol !== 'http:' && b.protocol !== 'https:') throw new Error(`NODESEAL_URL ${b.href} must be http(s)://`);
      return b.href.replace(/\/+$/, '');
    });
    if (bases.length === 0) throw new Error('NODESEAL_URL names no URL');
    node = cfg.NODESEAL_NODE || process.env.SLURMD_NODENAME || hostname().split('.')[0];
    if (!/^[A-Za-z0-9._-]{1,253}$/.test(node)) throw new Error('node name has unexpected characters');
    fresh = seconds(cfg.NODESEAL_FRESH, 0, 'NODESEAL_FRESH');
    timeoutMs = seconds(cfg.NODESEAL_TIMEOUT, 5, 'NODESEAL_TIMEOUT') * 1000;
    if (cfg.NODESEAL_CA_FILE) ca = readFileSync(cfg.NODESEAL_CA_FILE);
    if (!cfg.NODESEAL_TOKEN && cfg.NODESEAL_TOKEN_FILE) cfg.NODESEAL_TOKEN = readFileSync(cfg.NODESEAL_TOKEN_FILE, 'utf8').trim();
  } catch (e) {
    out(`configuration: ${e.message}`);
    return 2;
  }
  const failOpen = cfg.NODESEAL_FAIL_OPEN === '1' || cfg.NODESEAL_FAIL_OPEN === 'true';
  const opts = { token: cfg.NODESEAL_TOKEN, ca, timeoutMs };
  const id = encodeURIComponent(node);
  let answer;
  try {
    answer =
      fresh > 0
        ? await requestAny('POST', bases, `/v1/nodes/${id}/attest?wait=${fresh}`, { ...opts, timeoutMs: fresh * 1000 + timeoutMs })
        : await requestAny('GET', bases, `/v1/nodes/${id}/trust`, opts);
  } catch (e) {
    out(`collector unreachable (${e.message}); ${failOpen ? 'fail-open: allowing the job' : 'fail-closed: refusing the job'}`);
    return failOpen ? 0 : 3;
  }
  if (answer.status === 404) {
    out(`node ${node} is not known to the collector: not trusted`);
    return 1;
  }
  if (answer.status !== 200) {
    let code = '';
    try {
      code = JSON.parse(answer.body)?.error?.code ?? '';
    } catch {
      /* not JSON */
    }
    // The collector itself failing (500 ERR_INTERNAL) or something in front of it answering
    // without our JSON error (a proxy's 502/503) counts as unreachable. Any coded refusal from
    // the collector (agent not connected 409, no verdict in time 504, the node's answer rejected
    // 502, not allowed 401/403) means the node is not shown to be trusted.
    if (answer.status >= 500 && (code === '' || code === 'ERR_INTERNAL')) {
      out(
        `collector failed (HTTP ${answer.status} ${code}); ${failOpen ? 'fail-open: allowing the job' : 'fail-closed: refusing the job'}`,
      );
      return failOpen ? 0 : 3;
    }
    out(`collector answered HTTP ${answer.status} ${code}: node ${node} not trusted`);
    return 1;
  }
  let verdict;
  try {
    verdict = statusOf(answer.body);
  } catch (e) {
    out(`unreadable answer from the collector (${e.message}); ${failOpen ? 'fail-open' : 'fail-closed'}`);
    return failOpen ? 0 : 3;
  }
  if (verdict.status === 'trusted') return 0;
  const r = verdict.reasons[0];
  out(`node ${node} is ${verdict.status}${r && typeof r.code === 'string' ? `: ${r.code} ${String(r.detail ?? '').slice(0, 160)}` : ''}`);
  return 1;
}

/** Drains this node with a nodeseal reason (bounded by a timeout); best effort. */
function drainSelf(cfg, why) {
  const node = cfg.NODESEAL_NODE || process.env.SLURMD_NODENAME;
  const wanted = cfg.NODESEAL_DRAIN === '1' || (process.env.SLURMD_NODENAME && cfg.NODESEAL_DRAIN !== '0');
  if (!wanted || !node || !/^[A-Za-z0-9._-]{1,253}$/.test(node)) return;
  const reason = `nodeseal: prolog ${why}`
    .replace(/[^\x20-\x7e]/g, ' ')
    .replace(/["'`\\]/g, '')
    .slice(0, 200);
  const r = spawnSync(cfg.NODESEAL_SCONTROL || 'scontrol', ['update', `NodeName=${node}`, 'State=DRAIN', `Reason=${reason}`], {
    timeout: 5000,
    stdio: 'ignore',
  });
  if (r.status !== 0) out(`could not drain ${node} (scontrol ${r.error ? r.error.code : `exit ${r.status}`})`);
}

main().then(
  (code) => process.exit(code),
  (e) => {
    out(`internal error: ${e?.message ?? e}`);
    process.exit(3);
  },
);
