/// <reference lib="dom" />
import { api } from './api.js';
import { ago, badge, h, replace } from './dom.js';
import { RefreshSchedule } from './refresh.js';
import type { TrustStatus as Status } from '../../../../shared/src/report/types.js';
import type { FleetPage as Page, FleetRow as Row } from '../fleet.js';

const FILTERS = ['status', 'code', 'gpuModel', 'driver', 'search', 'offset'] as const;
const PAGE = 50;

/** The fleet overview: counts, nodes needing attention, filters, search and a paged table. */
export class FleetView {
  private params = new URLSearchParams();
  private readonly schedule = new RefreshSchedule(() => this.refresh());

  private readonly search: HTMLInputElement;

  constructor(private readonly root: HTMLElement) {
    this.search = h('input', { type: 'search', name: 'search', placeholder: 'Search node id…', 'aria-label': 'Search node id' });
    this.search.addEventListener('keydown', (e) => {
      if ((e as KeyboardEvent).key === 'Enter') this.go({ search: this.search.value.trim() });
    });
  }

  /** Filters live in the hash (#/?status=untrusted&gpuModel=...), so views can be shared. */
  async show(query: URLSearchParams): Promise<void> {
    this.params = new URLSearchParams();
    for (const k of FILTERS) {
      const v = query.get(k);
      if (v) this.params.set(k, v);
    }
    this.search.value = this.params.get('search') ?? '';
    await this.refresh();
  }

  private go(changes: Record<string, string | null>): void {
    const p = new URLSearchParams(this.params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === '') p.delete(k);
      else p.set(k, v);
    }
    if (!('offset' in changes)) p.delete('offset');
    location.hash = `#/?${p}`;
  }

  async refresh(): Promise<void> {
    const q = new URLSearchParams(this.params);
    q.set('limit', String(PAGE));
    const ticket = this.schedule.begin();
    const [page, attention] = await Promise.all([api<Page>(`/v1/dashboard/fleet?${q}`), api<Page>('/v1/dashboard/fleet?limit=8')]);
    if (!this.schedule.isCurrent(ticket)) return;
    this.render(
      page,
      attention.rows.filter((r) => r.status !== 'trusted'),
    );
  }

  /** A live status change: update the row at once, then refresh counts and order shortly after. */
  onStatus(e: { nodeId: string; to: Status; reasons: Array<{ code: string; detail: string }> }): void {
    const tr = this.root.querySelector<HTMLTableRowElement>(`tr[data-node="${CSS.escape(e.nodeId)}"]`);
    if (tr) {
      tr.dataset.status = e.to;
      replace(tr.querySelector('td.status')!, badge(e.to));
      replace(tr.querySelector('td.reasons')!, ...reasonCodes(e.reasons));
      tr.classList.remove('flash');
      void tr.offsetWidth;
      tr.classList.add('flash');
    }
    this.schedule.invalidate(); // an answer already on its way predates this change
    this.soon(300);
  }

  /** The view is hidden: see RefreshSchedule.cancel. */
  deactivate(): void {
    this.schedule.cancel();
  }

  /** Refresh after `ms`; an earlier request wins over a later pending one. */
  soon(ms = 1000): void {
    this.schedule.soon(ms);
  }

  private render(p: Page, attention: Row[]): void {
    const active = this.params.get('status');
    const card = (label: string, n: number, status: Status | null) =>
      h(
        'button',
        {
          type: 'button',
          class: `card ${status ?? 'all'}${active === status || (!active && !status) ? ' active' : ''}`,
          'data-card': status ?? 'all',
          onclick: () => this.go({ status: status }),
        },
        h('span', { class: 'n' }, n),
        label,
      );
    const select = (name: 'code' | 'gpuModel' | 'driver', label: string, values: string[]) =>
      h(
        'select',
        { name, 'aria-label': label, onchange: (e: Event) => this.go({ [name]: (e.target as HTMLSelectElement).value }) },
        h('option', { value: '' }, `${label}: any`),
        values.map((v) => h('option', { value: v, selected: this.params.get(name) === v }, v)),
      );
    // One search box for the view's life: live re-renders move it, so typing is never lost.
    const search = this.search;
    const hadFocus = document.activeElement === search;
    const offset = Number(this.params.get('offset') ?? 0);
    const to = Math.min(p.total, offset + p.rows.length);
    replace(
      this.root,
      h(
        'section',
        { class: 'cards', 'aria-label': 'Fleet by status' },
        card('nodes', p.fleetSize, null),
        card('untrusted', p.counts.untrusted, 'untrusted'),
        card('stale', p.counts.stale, 'stale'),
        card('unknown', p.counts.unknown, 'unknown'),
        card('trusted', p.counts.trusted, 'trusted'),
      ),
      attention.length
        ? h(
            'section',
            { class: 'attention', id: 'attention' },
            h('strong', {}, 'Needs attention'),
            h(
              'ul',
              {},
              attention.map((r) =>
                h(
                  'li',
                  {},
                  h('a', { href: `#/node/${encodeURIComponent(r.nodeId)}` }, r.nodeId),
                  ' ',
                  badge(r.status),
                  ' ',
                  reasonCodes(r.reasons),
                ),
              ),
            ),
          )
        : null,
      h(
        'div',
        { class: 'filters' },
        search,
        h(
          'select',
          { name: 'status', 'aria-label': 'Status', onchange: (e: Event) => this.go({ status: (e.target as HTMLSelectElement).value }) },
          h('option', { value: '' }, 'Status: any'),
          (['untrusted', 'stale', 'unknown', 'trusted'] as const).map((s) => h('option', { value: s, selected: active === s }, s)),
        ),
        select('code', 'Drift code', p.facets.codes),
        select('gpuModel', 'GPU model', p.facets.gpuModels),
        select('driver', 'Driver', p.facets.drivers),
        [...this.params.keys()].length ? h('button', { type: 'button', onclick: () => (location.hash = '#/') }, 'Clear filters') : null,
      ),
      h(
        'table',
        { id: 'nodes' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Node', 'Status', 'Reasons', 'Last verified', 'GPUs', 'Driver', 'VBIOS', 'BIOS'].map((t) => h('th', {}, t)),
          ),
        ),
        h(
          'tbody',
          {},
          p.rows.length === 0 ? h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No node matches.')) : null,
          p.rows.map((r) =>
            h(
              'tr',
              { 'data-node': r.nodeId, 'data-status': r.status },
              h(
                'td',
                { class: 'mono' },
                h('a', { href: `#/node/${encodeURIComponent(r.nodeId)}` }, r.nodeId),
                r.connected === false ? h('span', { class: 'muted', title: 'agent not connected' }, ' ⏻') : null,
              ),
              h('td', { class: 'status' }, badge(r.status)),
              h('td', { class: 'reasons' }, reasonCodes(r.reasons)),
              h('td', { title: r.verifiedAt ?? '' }, ago(r.verifiedAt)),
              h('td', {}, r.gpuCount ? `${r.gpuCount} × ${r.gpuModel ?? '?'}` : r.gpuCount === 0 ? '0' : '—'),
              h('td', { class: 'mono' }, r.driver ?? '—'),
              h('td', { class: 'mono' }, [...new Set(r.vbios)].join(', ') || '—'),
              h('td', { class: 'mono' }, r.biosVersion ?? '—'),
            ),
          ),
        ),
      ),
      h(
        'div',
        { class: 'pager' },
        h(
          'button',
          { type: 'button', disabled: offset === 0, onclick: () => this.go({ offset: String(Math.max(0, offset - PAGE)) }) },
          '← Previous',
        ),
        h('span', { id: 'range' }, p.total ? `${offset + 1}–${to} of ${p.total}` : '0 of 0'),
        h('button', { type: 'button', disabled: to >= p.total, onclick: () => this.go({ offset: String(offset + PAGE) }) }, 'Next →'),
      ),
    );
    if (hadFocus) search.focus();
  }
}

function reasonCodes(reasons: Array<{ code: string; detail: string }>): HTMLElement[] {
  const shown = reasons.slice(0, 4).map((r) => h('span', { class: 'code', title: r.detail }, r.code));
  if (reasons.length > 4) shown.push(h('span', { class: 'muted' }, `+${reasons.length - 4}`));
  return shown;
}
