/// <reference lib="dom" />
import { api, ApiError } from './api.js';
import { ago, badge, h, joinPresent, replace, show, type Child } from './dom.js';
import { groupHistory } from './history.js';
import { RefreshSchedule } from './refresh.js';

interface Reason {
  code: string;
  claim: string;
  detail: string;
  before?: unknown;
  after?: unknown;
}
interface EventChange {
  kind: string;
  pcr: number;
  eventType: string;
  description: string;
  oldDigest: string | null;
  newDigest: string | null;
}
interface Detail {
  node: {
    nodeId: string;
    status: string;
    reasons: Reason[];
    kid: string | null;
    enrolledVia: string | null;
    firstSeenAt: string;
    lastSeenAt: string | null;
    verifiedAt: string | null;
    revokedAt: string | null;
    lastSeq: number;
    connected: boolean | null;
    summary: { inventoryDigest: string; pcrDigest: string | null } | null;
  };
  trust: { status: string; reasons: Reason[]; verifiedAt: string | null; expiresAt: string | null } | null;
  baseline: { inventoryDigest: string; approvedBy: string; reason: string; createdAt: string } | null;
  inventory: Inventory | null;
  inventoryFrom: { seq?: number; receivedAt?: string; baseline?: boolean; digest: string } | null;
  reports: Array<{ seq: number; receivedAt: string; kind: string; status: string; reasons: Reason[] }>;
  changes: Array<{ id: number; seq: number; at: string; code: string; claim: string; detail: string; before: unknown; after: unknown }>;
  approvals: Array<{ actor: string; reason: string; at: string; inventoryDigest: string }>;
}
type Rec = Record<string, unknown>;
interface Inventory {
  platform: Rec | null;
  cpu: Rec | null;
  kernel: Rec | null;
  secureBoot: Rec | null;
  gpus: Rec[];
  nics: Rec[];
  hcas: Rec[];
  disks: Rec[];
  pci: Rec[];
}

const kv = (pairs: Array<[string, Child]>) =>
  h(
    'dl',
    { class: 'kv' },
    pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '—')]),
  );
const str = (v: unknown): string =>
  v === null || v === undefined || v === '' ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v);
const table = (heads: string[], rows: Child[][], attrs: Record<string, string> = {}) =>
  h(
    'table',
    attrs,
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        heads.map((t) => h('th', {}, t)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          {},
          r.map((c) => h('td', { class: 'mono' }, c)),
        ),
      ),
    ),
  );

/** One node: trust and reasons, approve/revoke, inventory, changes (with PCR explanations), history. */
export class NodeView {
  nodeId = '';
  private readonly schedule = new RefreshSchedule(() => this.refresh());
  private actions: HTMLElement | null = null;
  private actionsFor = '';
  /** The last approve/revoke message; kept across live re-renders of the same node. */
  private message: { text: string; error: boolean } | null = null;
  /** The verified state the last render showed: approve sends its digests, so it approves only what was shown. */
  private shown: { inventoryDigest: string; pcrDigest: string | null } | null = null;

  constructor(
    private readonly root: HTMLElement,
    private readonly role: () => string | null,
  ) {}

  async show(nodeId: string): Promise<void> {
    if (nodeId !== this.nodeId) {
      this.message = null;
      this.shown = null;
    }
    this.nodeId = nodeId;
    await this.refresh();
  }

  /** The view is hidden: see RefreshSchedule.cancel. */
  deactivate(): void {
    this.schedule.cancel();
  }

  /** Refresh after `ms`; an earlier request wins over a later pending one. */
  soon(ms = 1000): void {
    this.schedule.soon(ms);
  }

  async refresh(): Promise<void> {
    let d: Detail;
    const ticket = this.schedule.begin();
    try {
      d = await api<Detail>(`/v1/dashboard/nodes/${encodeURIComponent(this.nodeId)}`);
      if (!this.schedule.isCurrent(ticket)) return;
    } catch (e) {
      if (!this.schedule.isCurrent(ticket)) return;
      replace(
        this.root,
        h(
          'p',
          { class: 'error' },
          e instanceof ApiError && e.status === 404 ? `No node ${this.nodeId}.` : `Could not load ${this.nodeId}: ${(e as Error).message}`,
        ),
        h('a', { href: '#/' }, '← Fleet'),
      );
      return;
    }
    this.render(d);
  }

  private async act(kind: 'approve' | 'revoke', reason: string): Promise<void> {
    const say = (text: string, error: boolean) => {
      this.message = { text, error };
      const msg = this.actions?.querySelector<HTMLElement>('#action-msg');
      if (msg) replace(msg, h('span', { class: error ? 'error' : '' }, text));
    };
    if (!reason.trim()) return say('A reason is required; it is recorded with the decision.', true);
    try {
      const body: Record<string, unknown> = { reason: reason.trim() };
      if (kind === 'approve' && this.shown) Object.assign(body, this.shown);
      const out = await api<{ status?: string }>(`/v1/nodes/${encodeURIComponent(this.nodeId)}/${kind}`, { method: 'POST', body });
      const input = this.actions?.querySelector<HTMLInputElement>('#decision-reason');
      if (input) input.value = '';
      const msg = this.actions?.querySelector<HTMLElement>('#action-msg');
      if (msg) msg.replaceChildren();
      this.message = { text: `${kind === 'approve' ? 'Approved' : 'Revoked'}: now ${out.status ?? 'updated'}.`, error: false };
      await this.refresh();
    } catch (e) {
      const err = e as ApiError;
      if (err.code === 'ERR_APPROVE_STATE_CHANGED') {
        say(
          'Not approved: the node reported another state since this page was shown. Review the updated page, then approve again. (ERR_APPROVE_STATE_CHANGED)',
          true,
        );
        await this.refresh();
        return;
      }
      say(err.status === 403 ? 'This needs an operator token.' : `${err.message} (${err.code ?? ''})`, true);
    }
  }

  private actionsBar(nodeId: string): HTMLElement {
    if (this.actions && this.actionsFor === nodeId) return this.actions;
    const reasonInput = h('input', {
      type: 'text',
      id: 'decision-reason',
      placeholder: 'Reason (recorded): e.g. planned VBIOS update, ticket OPS-123',
      maxlength: 1000,
    });
    this.actionsFor = nodeId;
    this.actions = h(
      'div',
      { class: 'actions', id: 'actions' },
      reasonInput,
      h(
        'button',
        { type: 'button', class: 'primary', id: 'approve', onclick: () => void this.act('approve', reasonInput.value) },
        'Approve current state',
      ),
      h(
        'button',
        { type: 'button', class: 'danger', id: 'revoke', onclick: () => void this.act('revoke', reasonInput.value) },
        'Revoke node',
      ),
      h('span', { id: 'action-msg' }),
    );
    return this.actions;
  }

  private render(d: Detail): void {
    const notice = this.message && !this.message.error ? this.message.text : null;
    const status = d.trust?.status ?? d.node.status;
    const reasons = d.trust?.reasons ?? d.node.reasons;
    // Live refreshes re-render the view; the actions bar is built once per node and moved into
    // each new render, so what the operator is typing (and the buttons) never change under them.
    const hadFocus = this.actions?.contains(document.activeElement);
    const operator = this.role() === 'operator';
    const inv = d.inventory;
    const s = d.node.summary;
    this.shown = s && typeof s.inventoryDigest === 'string' ? { inventoryDigest: s.inventoryDigest, pcrDigest: s.pcrDigest ?? null } : null;
    replace(
      this.root,
      h('p', {}, h('a', { href: '#/' }, '← Fleet')),
      h(
        'h2',
        { id: 'node-title', 'data-node': d.node.nodeId },
        d.node.nodeId,
        ' ',
        badge(status),
        d.node.connected === false ? h('span', { class: 'muted' }, ' (agent not connected)') : null,
      ),
      notice ? h('p', { class: 'notice', id: 'notice' }, notice) : null,
      reasons.length
        ? h(
            'section',
            { class: 'panel', id: 'reasons' },
            h('h3', {}, 'Why'),
            table(
              ['Code', 'Claim', 'Detail'],
              reasons.map((r) => [h('span', { class: 'code' }, r.code), r.claim, r.detail]),
            ),
          )
        : h('p', { class: 'muted' }, status === 'trusted' ? 'Matches its approved baseline.' : ''),
      operator ? this.actionsBar(d.node.nodeId) : h('p', { class: 'muted' }, 'Approve and revoke need an operator token.'),
      h(
        'div',
        { class: 'grid2' },
        h(
          'section',
          { class: 'panel' },
          h('h3', {}, 'Identity and trust'),
          kv([
            ['Verified', d.trust?.verifiedAt ? `${d.trust.verifiedAt} (${ago(d.trust.verifiedAt)})` : (d.node.verifiedAt ?? 'never')],
            ['Expires', d.trust?.expiresAt ?? '—'],
            ['First seen', d.node.firstSeenAt],
            ['Last seen', d.node.lastSeenAt ?? '—'],
            ['Last seq', String(d.node.lastSeq)],
            ['Key id', h('span', { class: 'mono' }, d.node.kid ?? '—')],
            ['Enrolled via', d.node.enrolledVia ?? '—'],
            ['Revoked', d.node.revokedAt ?? 'no'],
            [
              'Baseline',
              d.baseline ? `approved by ${d.baseline.approvedBy} ${ago(d.baseline.createdAt)}: ${d.baseline.reason}` : 'none yet',
            ],
            ['Baseline digest', h('span', { class: 'mono' }, d.baseline?.inventoryDigest ?? '—')],
            ['Current digest', h('span', { class: 'mono', id: 'current-digest' }, s?.inventoryDigest ?? '—')],
            ['Current PCRs', h('span', { class: 'mono', id: 'current-pcrs' }, s ? (s.pcrDigest ?? 'no TPM evidence') : '—')],
          ]),
        ),
        h(
          'section',
          { class: 'panel', id: 'platform' },
          h(
            'h3',
            {},
            'Platform',
            d.inventoryFrom
              ? h(
                  'span',
                  { class: 'muted' },
                  d.inventoryFrom.baseline
                    ? ' (baseline)'
                    : ` (from report ${d.inventoryFrom.seq}, the latest that carried a full inventory)`,
                )
              : null,
          ),
          inv
            ? kv([
                ['System', joinPresent([inv.platform?.systemVendor, inv.platform?.systemProduct])],
                ['Board', joinPresent([inv.platform?.boardVendor, inv.platform?.boardName])],
                [
                  'BIOS',
                  joinPresent([
                    inv.platform?.biosVendor,
                    inv.platform?.biosVersion,
                    inv.platform?.biosDate ? `(${String(inv.platform.biosDate)})` : null,
                  ]),
                ],
                ['BMC firmware', str(inv.platform?.bmcFirmware)],
                ['CPU', joinPresent([inv.cpu?.model, inv.cpu?.microcode ? `microcode ${String(inv.cpu.microcode)}` : null], ' · ')],
                [
                  'Kernel',
                  joinPresent(
                    [
                      inv.kernel?.release,
                      inv.kernel?.nvidiaModuleVersion ? `nvidia ${String(inv.kernel.nvidiaModuleVersion)}` : 'no nvidia module',
                    ],
                    ' · ',
                  ),
                ],
                ['Secure Boot', inv.secureBoot?.enabled === true ? 'enabled' : inv.secureBoot?.enabled === false ? 'disabled' : '—'],
              ])
            : h('p', { class: 'muted' }, 'No verified inventory yet.'),
        ),
      ),
      inv && !inv.gpus.length
        ? h('section', { id: 'gpus' }, h('h3', {}, 'GPUs (0)'), h('p', { class: 'muted' }, 'This node reports no GPU.'))
        : null,
      inv?.gpus.length
        ? h(
            'section',
            { id: 'gpus' },
            h('h3', {}, `GPUs (${inv.gpus.length})`),
            table(
              ['#', 'Product', 'Serial', 'UUID', 'VBIOS', 'InfoROM', 'Driver', 'PCI'],
              inv.gpus.map((g) => [
                str(g.index),
                str(g.productName),
                str(g.serial),
                str(g.uuid),
                str(g.vbiosVersion),
                str((g.inforom as Rec | null)?.image),
                str(g.driverVersion),
                str(g.pciBusId),
              ]),
            ),
          )
        : null,
      inv && (inv.nics.length || inv.hcas.length)
        ? h(
            'section',
            {},
            h('h3', {}, 'Network'),
            table(
              ['Name', 'Driver / type', 'Firmware', 'Bus / GUID'],
              [
                ...inv.nics.map((n) => [str(n.name), `${str(n.driver)} ${str(n.driverVersion)}`, str(n.firmwareVersion), str(n.busInfo)]),
                ...inv.hcas.map((c) => [str(c.name), str(c.hcaType), str(c.fwVersion), str(c.nodeGuid)]),
              ],
            ),
          )
        : null,
      inv?.disks.length
        ? h(
            'section',
            {},
            h('h3', {}, 'Disks'),
            table(
              ['Name', 'Model', 'Serial', 'Firmware'],
              inv.disks.map((x) => [str(x.name), str(x.model), str(x.serial), str(x.firmwareRevision)]),
            ),
          )
        : null,
      h(
        'section',
        { id: 'changes' },
        h('h3', {}, `Changes (${d.changes.length})`),
        d.changes.length ? this.changes(d.changes) : h('p', { class: 'muted' }, 'No change recorded.'),
      ),
      h('section', { id: 'history' }, h('h3', {}, 'History'), this.timeline(d)),
    );
    if (hadFocus) this.actions?.querySelector<HTMLInputElement>('#decision-reason')?.focus();
  }

  private changes(list: Detail['changes']): HTMLElement {
    return h(
      'table',
      { id: 'changes-table' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['When', 'Report', 'Code', 'What', 'Before', 'After'].map((t) => h('th', {}, t)),
        ),
      ),
      h(
        'tbody',
        {},
        list.map((c) => {
          const events = (c.after as { events?: EventChange[] } | null)?.events;
          return [
            h(
              'tr',
              { 'data-code': c.code },
              h('td', { title: c.at }, ago(c.at)),
              h('td', {}, String(c.seq)),
              h('td', {}, h('span', { class: 'code' }, c.code)),
              h('td', {}, c.detail),
              h('td', { class: 'mono before' }, show(c.code === 'tpm.pcr_changed' ? (c.before as Rec | null)?.value : c.before)),
              h('td', { class: 'mono after' }, show(c.code === 'tpm.pcr_changed' ? (c.after as Rec | null)?.value : c.after)),
            ),
            events?.length
              ? h(
                  'tr',
                  { class: 'events' },
                  h('td', {}),
                  h(
                    'td',
                    { colspan: 5 },
                    h('strong', {}, 'Event-log entries that explain it'),
                    table(
                      ['PCR', 'Change', 'Event', 'Measured', 'Old digest', 'New digest'],
                      events.map((e) => [String(e.pcr), e.kind, e.eventType, e.description, show(e.oldDigest, 20), show(e.newDigest, 20)]),
                      { class: 'eventlog' },
                    ),
                  ),
                )
              : null,
          ];
        }),
      ),
    );
  }

  private timeline(d: Detail): HTMLElement {
    const items = groupHistory(d.reports, d.approvals).map((it) => {
      if (it.type === 'approval') {
        const a = it.approval;
        return h(
          'li',
          { class: 'trusted' },
          h('span', { class: 'muted' }, `${a.at} `),
          h('strong', {}, `approved by ${a.actor}`),
          `: ${a.reason}`,
        );
      }
      const r = it.newest;
      const span = it.count === 1 ? `report ${r.seq}` : `reports ${it.oldest.seq}–${r.seq}`;
      const when = it.count === 1 ? `${r.receivedAt} ` : `${it.oldest.receivedAt} … ${r.receivedAt} `;
      return h(
        'li',
        { class: r.status, 'data-count': it.count },
        h('span', { class: 'muted' }, when),
        `${span} (${r.kind}) `,
        badge(r.status),
        it.count > 1 ? h('span', { class: 'muted' }, ` ×${it.count}`) : null,
        ' ',
        r.reasons.map((x) => h('span', { class: 'code', title: x.detail }, x.code)),
      );
    });
    return items.length ? h('ul', { class: 'timeline' }, items) : h('p', { class: 'muted' }, 'Nothing yet.');
  }
}
