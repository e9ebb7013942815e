import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setGpuField } from '../../helpers/hosts.js';
import { hostInventory, startFleet, type Fleet } from './harness.js';

const ARTIFACTS = resolve(import.meta.dirname, '../../artifacts/dashboard');
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('dashboard in headless Chromium against a live collector', () => {
  let fleet: Fleet;
  let ctx: BrowserContext;
  let page: Page;
  let profile: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    fleet = await startFleet([
      { id: 'gpu-node-001', host: 'gpu8' },
      { id: 'gpu-node-002', host: 'gpu8' },
      { id: 'cpu-node-001', host: 'a100' },
    ]);
    profile = mkdtempSync(join(tmpdir(), 'nodeseal-chromium-'));
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ARGS,
      viewport: { width: 1400, height: 900 },
    });
    ctx.setDefaultTimeout(10_000);
    page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(`console: ${m.text()}`));
    page.on('response', (r) => r.status() >= 500 && pageErrors.push(`HTTP ${r.status()} ${r.url()}`));
    page.on('framenavigated', (f) => f === page.mainFrame() && pageErrors.push(`navigated: ${f.url()}`));
  });
  afterAll(async () => {
    writeFileSync(join(ARTIFACTS, 'page-events.log'), `${pageErrors.join('\n')}\n`);
    await ctx?.close();
    await fleet?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  const row = (id: string) => page.locator(`tr[data-node="${id}"]`);
  const nodeApi = async (id: string) =>
    (await (await fetch(`${fleet.collector.url}/v1/nodes/${id}`, { headers: { authorization: `Bearer ${fleet.operator}` } })).json()) as {
      status: string;
      summary: { inventoryDigest: string; pcrDigest: string | null };
      baseline: { inventoryDigest: string; pcrDigest: string | null; reason: string };
    };

  it('asks for a token, keeps it in sessionStorage only, and lists the nodes', async () => {
    await page.goto(fleet.collector.url);
    await page.locator('#token-form').waitFor({ state: 'visible' });
    await page.fill('#token-input', 'not-a-token');
    await page.click('#token-form button[type=submit]');
    await expect.poll(() => page.textContent('#token-error')).toContain('not accepted');
    await page.fill('#token-input', fleet.operator);
    await page.click('#token-form button[type=submit]');
    await row('gpu-node-002').waitFor();
    for (const id of ['gpu-node-001', 'gpu-node-002', 'cpu-node-001']) expect(await row(id).getAttribute('data-status')).toBe('trusted');
    expect(await page.textContent('#who')).toContain('alice (operator)');
    expect(await row('gpu-node-001').textContent()).toContain(`8 × ${(await hostInventory('gpu8')).gpus[0]!.productName}`);
    await page.locator('#live.on').waitFor();
    const storage = await page.evaluate(() => ({
      session: sessionStorage.getItem('nodeseal.token'),
      local: localStorage.length,
      cookie: document.cookie,
    }));
    expect(storage).toEqual({ session: fleet.operator, local: 0, cookie: '' });
    await page.screenshot({ path: join(ARTIFACTS, '1-fleet-trusted.png'), fullPage: true });
  });

  it('turns a row untrusted live when a GPU VBIOS changes, and filters by status and drift code', async () => {
    const vbios = (await hostInventory('gpu8')).gpus[0]!.vbiosVersion!;
    await setGpuField(fleet.nodes.get('gpu-node-002')!.root, 0, 'vbios', `${vbios}.EVIL`);
    const verdict = await fleet.attest('gpu-node-002');
    expect(verdict.status).toBe('untrusted');
    // No reload: the live stream updates the row.
    await page.locator('tr[data-node="gpu-node-002"][data-status="untrusted"]').waitFor({ timeout: 10_000 });
    await expect.poll(() => row('gpu-node-002').locator('td.reasons').textContent()).toContain('gpu.vbios_changed');
    await expect.poll(() => page.textContent('[data-card="untrusted"] .n')).toBe('1');
    await expect.poll(() => page.textContent('#attention')).toContain('gpu-node-002');
    // Nodes needing attention come first.
    expect(await page.locator('#nodes tbody tr').first().getAttribute('data-node')).toBe('gpu-node-002');
    await page.screenshot({ path: join(ARTIFACTS, '2-fleet-drift.png'), fullPage: true });

    await page.selectOption('select[name=code]', 'gpu.vbios_changed');
    await expect.poll(() => page.locator('#nodes tbody tr').count()).toBe(1);
    await page.click('text=Clear filters');
    await expect.poll(() => page.locator('#nodes tbody tr[data-node]').count()).toBe(3);
    await page.fill('input[type=search]', 'cpu');
    await page.press('input[type=search]', 'Enter');
    await expect
      .poll(() => page.locator('#nodes tbody tr[data-node]').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-node'))))
      .toEqual(['cpu-node-001']);
    await page.click('text=Clear filters');
  });

  it('shows the node detail: reasons, before/after, PCR change explained by event-log entries, history', async () => {
    fleet.nodes.get('gpu-node-002')!.evidence.variant = 'patched-grub';
    const verdict = await fleet.attest('gpu-node-002');
    expect(verdict.reasons.map((r) => r.code)).toContain('tpm.pcr_changed');
    await page.click('a[href="#/node/gpu-node-002"] >> nth=0');
    await page.locator('#node-title').waitFor();
    await expect.poll(() => page.textContent('#reasons')).toContain('tpm.pcr_changed');
    const changes = await page.textContent('#changes');
    expect(changes).toContain('gpu.vbios_changed');
    expect(changes).toContain('.EVIL');
    expect(await page.locator('table.eventlog').first().textContent()).toMatch(/EV_EFI_BOOT_SERVICES_APPLICATION.*grubx64\.efi/);
    expect(await page.locator('#gpus tbody tr').count()).toBe(8);
    const platform = await page.textContent('#platform');
    expect(platform).toMatch(/from report \d+, the latest that carried a full inventory/);
    expect(platform).not.toContain('— —');
    expect(await page.textContent('#history')).toMatch(/reports? [\d–]+ \(fresh\)/);
    await page.screenshot({ path: join(ARTIFACTS, '3-node-detail.png'), fullPage: true });
  });

  it('approve (with a reason) turns the node trusted again, live in the fleet view', async () => {
    await page.click('#approve');
    await expect.poll(() => page.textContent('#action-msg')).toContain('reason is required');
    await page.fill('#decision-reason', 'planned VBIOS and bootloader update, ticket OPS-4711');
    const shown = (await nodeApi('gpu-node-002')).summary;
    const sent = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/v1/nodes/gpu-node-002/approve'));
    await page.click('#approve');
    // The page sends the digests of the state it rendered (and shows them).
    expect((await sent).postDataJSON()).toEqual({
      reason: 'planned VBIOS and bootloader update, ticket OPS-4711',
      inventoryDigest: shown.inventoryDigest,
      pcrDigest: shown.pcrDigest,
    });
    expect(await page.textContent('#current-digest')).toBe(shown.inventoryDigest);
    try {
      await expect.poll(() => page.textContent('#notice'), { timeout: 10_000 }).toContain('now trusted');
    } catch (e) {
      await page.screenshot({ path: join(ARTIFACTS, 'failure-approve.png'), fullPage: true });
      throw new Error(
        `no approval notice; url ${page.url()}; page: ${(await page.content()).slice(0, 1500)}; events: ${pageErrors.join(' | ')}`,
        { cause: e },
      );
    }
    expect(await page.textContent('#history')).toContain('approved by alice');
    await page.screenshot({ path: join(ARTIFACTS, '4-node-approved.png'), fullPage: true });
    // Fresh evidence of the approved state (the test fleet's freshness TTL is 3 s).
    expect((await fleet.attest('gpu-node-002')).status).toBe('trusted');
    await page.click('text=← Fleet');
    try {
      await page.locator('tr[data-node="gpu-node-002"][data-status="trusted"]').waitFor();
    } catch (e) {
      const h = { authorization: `Bearer ${fleet.operator}` };
      const dbg = await Promise.all(
        ['/v1/dashboard/fleet?search=gpu-node-002', '/v1/nodes/gpu-node-002', '/v1/nodes/gpu-node-002/trust'].map(async (p) =>
          (await fetch(fleet.collector.url + p, { headers: h })).text(),
        ),
      );
      throw new Error(`row not trusted: ${dbg.join('\n').slice(0, 3000)}`, { cause: e });
    }
    expect(await page.textContent('[data-card="untrusted"] .n')).toBe('0');
  });

  it('approve refuses a state reported after the page rendered: the page says so, the baseline is unchanged', async () => {
    await page.goto(`${fleet.collector.url}/#/node/gpu-node-001`);
    await page.locator('#node-title[data-node="gpu-node-001"]').waitFor();
    const before = await nodeApi('gpu-node-001');
    await expect.poll(() => page.textContent('#current-digest')).toBe(before.summary.inventoryDigest);
    await page.fill('#decision-reason', 'looked at it, fine');
    // The node drifts after the page rendered, just before the approve reaches the collector.
    await page.route('**/v1/nodes/gpu-node-001/approve', async (route) => {
      await setGpuField(fleet.nodes.get('gpu-node-001')!.root, 2, 'serial', 'SWAPPED-D-0001');
      await fleet.attest('gpu-node-001');
      await route.continue();
    });
    const answered = page.waitForResponse((r) => r.url().endsWith('/v1/nodes/gpu-node-001/approve'));
    await page.click('#approve');
    const res = await answered;
    await page.unroute('**/v1/nodes/gpu-node-001/approve');
    expect(res.status()).toBe(409);
    expect(res.request().postDataJSON()).toMatchObject({
      inventoryDigest: before.summary.inventoryDigest,
      pcrDigest: before.summary.pcrDigest,
    });
    await expect
      .poll(() => page.textContent('#action-msg'))
      .toContain('Not approved: the node reported another state since this page was shown');
    expect(await page.textContent('#action-msg')).toContain('ERR_APPROVE_STATE_CHANGED');
    const after = await nodeApi('gpu-node-001');
    expect(after.status).toBe('untrusted');
    expect(after.summary.inventoryDigest).not.toBe(before.summary.inventoryDigest);
    expect(after.baseline).toEqual(before.baseline);
    // The page shows the new state, which is what a second approve would send.
    await expect.poll(() => page.textContent('#current-digest')).toBe(after.summary.inventoryDigest);
    await page.click('text=← Fleet');
  });

  it('pages the fleet on the server and picks up nodes it has not seen before', async () => {
    const { store, events } = fleet.collector;
    const at = new Date().toISOString();
    for (let i = 0; i < 120; i++) {
      const nodeId = `rack7-${String(i).padStart(3, '0')}`;
      await store.upsertNode({
        nodeId,
        jwk: null,
        kid: null,
        akPublic: null,
        lastSeq: 0,
        status: 'unknown',
        reasons: [],
        firstSeenAt: at,
        lastSeenAt: at,
        verifiedAt: null,
        enrolledVia: 'tofu',
        revokedAt: null,
        summary: null,
      });
      events.emit('status-changed', { nodeId, from: null, to: 'unknown', reasons: [], at });
    }
    await expect.poll(() => page.textContent('[data-card="all"] .n'), { timeout: 10_000 }).toBe('123');
    expect(await page.textContent('#range')).toBe('1–50 of 123');
    await expect.poll(() => page.locator('#nodes tbody tr[data-node]').count()).toBe(50);
    await page.click('text=Next →');
    await expect.poll(() => page.textContent('#range')).toBe('51–100 of 123');
    await page.click('text=Next →');
    await expect.poll(() => page.textContent('#range')).toBe('101–123 of 123');
    // Attention order: the unknown newcomers before the trusted nodes, which close the list.
    expect(await page.locator('#nodes tbody tr').last().getAttribute('data-status')).toBe('trusted');
    await page.screenshot({ path: join(ARTIFACTS, '5-fleet-paged.png'), fullPage: true });
  });

  it('offers no approve or revoke to a viewer token', async () => {
    const p2 = await ctx.newPage();
    await p2.goto(fleet.collector.url);
    await p2.fill('#token-input', fleet.viewer);
    await p2.click('#token-form button[type=submit]');
    await p2.locator('#nodes tbody tr[data-node]').first().waitFor();
    await p2.goto(`${fleet.collector.url}/#/node/gpu-node-001`);
    await p2.locator('#node-title').waitFor();
    expect(await p2.locator('#approve').count()).toBe(0);
    expect(await p2.textContent('main')).toContain('need an operator token');
    await p2.close();
  });

  it('revoke (with a reason) makes a node untrusted and shows it in the fleet', async () => {
    await page.goto(`${fleet.collector.url}/#/node/cpu-node-001`);
    await page.locator('#node-title[data-node="cpu-node-001"]').waitFor();
    await page.fill('#decision-reason', 'chassis opened outside a maintenance window, ticket SEC-9');
    await page.click('#revoke');
    await expect.poll(() => page.textContent('#notice'), { timeout: 10_000 }).toContain('Revoked: now untrusted');
    await expect.poll(() => page.getAttribute('#node-title .badge', 'data-status')).toBe('untrusted');
    await expect.poll(() => page.textContent('#reasons')).toContain('node.revoked');
    await page.screenshot({ path: join(ARTIFACTS, '6-node-revoked.png'), fullPage: true });
    await page.click('text=← Fleet');
    await page.locator('tr[data-node="cpu-node-001"][data-status="untrusted"]').waitFor();
  });
});
