/// <reference lib="dom" />
import { api, ApiError, openLive, token } from './api.js';
import { h, replace } from './dom.js';
import { FleetView } from './fleet-view.js';
import { NodeView } from './node-view.js';

/** The nodeseal dashboard: hash routes `#/` (fleet, with filters) and `#/node/ID`. */
const view = document.getElementById('view')!;
const form = document.getElementById('token-form') as HTMLFormElement;
const input = document.getElementById('token-input') as HTMLInputElement;
const tokenError = document.getElementById('token-error')!;
const liveEl = document.getElementById('live')!;
const who = document.getElementById('who')!;
const signout = document.getElementById('signout') as HTMLButtonElement;

let role: string | null = null;
const fleet = new FleetView(view);
const node = new NodeView(view, () => role);
let current: 'fleet' | 'node' = 'fleet';
let live: { close(): void } | null = null;

function askToken(message = ''): void {
  live?.close();
  live = null;
  fleet.deactivate();
  node.deactivate();
  view.replaceChildren();
  form.hidden = false;
  tokenError.textContent = message;
  input.focus();
}

async function route(): Promise<void> {
  const hash = location.hash.replace(/^#/, '') || '/';
  try {
    if (hash.startsWith('/node/')) {
      current = 'node';
      fleet.deactivate();
      await node.show(decodeURIComponent(hash.slice('/node/'.length)));
    } else {
      current = 'fleet';
      node.deactivate();
      await fleet.show(new URLSearchParams(hash.split('?')[1] ?? ''));
    }
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return askToken('That token was not accepted.');
    replace(view, h('p', { class: 'error' }, `Could not load: ${(e as Error).message}`));
  }
}

function startLive(): void {
  live = openLive({
    state(up) {
      liveEl.textContent = up ? '● live' : '○ reconnecting';
      liveEl.classList.toggle('on', up);
    },
    unauthorized: () => askToken('That token was not accepted.'),
    event(name, data) {
      const e = data as { nodeId?: string; to?: 'trusted'; reasons?: [] };
      if (current === 'fleet') {
        if (name === 'status' && e.nodeId && e.to) fleet.onStatus({ nodeId: e.nodeId, to: e.to, reasons: e.reasons ?? [] });
        else fleet.soon(name === 'activity' ? 2000 : 500);
      } else if (
        name === 'reset' ||
        (e.nodeId && e.nodeId === node.nodeId) ||
        (name === 'activity' && (data as { nodeIds?: string[] }).nodeIds?.includes(node.nodeId))
      )
        node.soon();
    },
  });
}

async function start(): Promise<void> {
  // Without a token the collector may still answer (access control not configured).
  try {
    const me = await api<{ name: string; role: string }>('/v1/dashboard/me');
    role = me.role;
    who.textContent = `${me.name} (${me.role})`;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      const had = token.get() !== null;
      token.clear();
      return askToken(had ? 'That token was not accepted.' : '');
    }
  }
  form.hidden = true;
  signout.hidden = false;
  startLive();
  await route();
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const t = input.value.trim();
  if (!t) return;
  token.set(t);
  input.value = '';
  void start();
});
signout.addEventListener('click', () => {
  token.clear();
  role = null;
  who.textContent = '';
  signout.hidden = true;
  askToken();
});
window.addEventListener('hashchange', () => void route());
void start();
