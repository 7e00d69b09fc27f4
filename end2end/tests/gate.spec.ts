import { test as base, expect, type Page } from '@playwright/test';
import { signIn } from './fixtures';
import { OwnServer } from './own-server';

// The cutover's proof end to end, with real dashboards only: two traders' pages in Shadow produce
// the parity that opens the gate, an operator goes live from the page, a fault the pages see
// (silence on the socket) rolls the feature back on its own, both pages are on REST within a
// second of it, and the operator's audit trail names the automatic change with its evidence.
//
// A server of this spec's own, with a gate a spec can open in seconds rather than the default
// hours of a real desk: 4 matching samples (the default is 200) at a lower bound of 40 %
// (Wilson's bound for 4 of 4 is 51 %; one mismatch in 5 would be 38 %), from two pages of two
// users as by default; and positions (published every 10 s) counted silent after 15 s (1.5
// cadences; the default is 3). The test switch for faults is on, as in the main spec server.
const own = new OwnServer(Number(process.env.THOR_E2E_GATE_PORT ?? 3103), {
  THOR_GATE_MIN_SAMPLES: '4',
  THOR_GATE_MIN_MATCH_PERCENT: '40',
  THOR_GATE_MIN_PAGES: '2',
  THOR_STALE_AFTER_CADENCES: '1.5',
  THOR_ALLOW_FAULTS: 'true',
});

const test = base.extend<{ server: OwnServer }>({
  server: async ({}, use) => {
    await own.start();
    await use(own);
    await own.stop();
  },
});

test.use({ baseURL: own.origin });

/// Collects what goes wrong on `page`: console errors, uncaught exceptions, HTTP errors (but the
/// ones `allowed` names: the refusals this spec asks for).
function watch(page: Page, problems: string[], allowed: (status: number, url: string) => boolean = () => false) {
  page.on('console', (m) => m.type() === 'error' && !/409 \(Conflict\)/.test(m.text()) && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('response', (r) => r.status() >= 400 && !allowed(r.status(), r.url()) && problems.push(`HTTP ${r.status()} ${r.url()}`));
}

test('two traders’ pages open the gate, an operator goes live from the page, a silent socket rolls back, and the audit says why', async ({
  browser,
  server,
}) => {
  test.setTimeout(180_000);
  const problems: string[] = [];
  const contexts = await Promise.all([browser.newContext(), browser.newContext(), browser.newContext()]);
  try {
    const [demo, demo2, ops] = await Promise.all(contexts.map((c) => c.newPage()));
    watch(demo, problems);
    watch(demo2, problems);
    // The operator's first try is refused by the closed gate: that 409 is the point.
    watch(ops, problems, (status, url) => status === 409 && url.endsWith('/api/cutover/positions'));
    await signIn(demo, 'demo', 'demo');
    await signIn(demo2, 'demo2', 'demo2');
    await signIn(ops, 'ops', 'ops');
    const traders = [demo, demo2];
    for (const page of traders) {
      await expect(page.getByTestId('source-positions')).toHaveText('REST (Shadow)');
    }

    // Before the pages have proved anything, the gate is closed and says what it lacks, and the
    // page's "Enable" is refused with those words.
    await expect(ops.getByTestId('fleet-gate-positions')).toContainText('closed: ');
    await ops.getByTestId('control-feature').selectOption('positions');
    await ops.getByTestId('control-reason').fill('e2e: too early');
    await ops.getByTestId('control-live').click();
    await expect(ops.getByTestId('control-outcome')).toContainText('more samples');
    for (const page of traders) {
      await expect(page.getByTestId('source-positions')).toHaveText('REST (Shadow)');
    }

    // Each trader's page compares the socket with REST and reports; once both have matched
    // enough, the operator's page shows the gate open.
    for (const page of traders) {
      await expect
        .poll(async () => Number(await page.getByTestId('parity-samples-positions').textContent()), { timeout: 40_000 })
        .toBeGreaterThan(0);
      await expect(page.getByTestId('parity-mismatches-positions')).toHaveText('0');
    }
    await expect(ops.getByTestId('fleet-gate-positions')).toHaveText('open', { timeout: 60_000 });

    // Live from the page, without forcing: both traders' panels render from the socket.
    await ops.getByTestId('control-reason').fill('e2e: the gate is open');
    await ops.getByTestId('control-live').click();
    await expect(ops.getByTestId('control-outcome')).toContainText('Done');
    for (const page of traders) {
      await expect(page.getByTestId('source-positions')).toHaveText('WebSocket', { timeout: 2_000 });
    }

    // The fault: the socket stops carrying positions (REST keeps the truth). The pages report
    // their last update ageing; once two users' pages are past 15 s, the judge rolls back.
    const fault = await ops.request.post('/api/cutover/fault', { data: { feature: 'positions', kind: 'drop' } });
    expect(fault.status()).toBe(204);
    const automatic = async () => {
      const audit = await (await ops.request.get('/api/cutover/audit?limit=20')).json();
      return audit.find((e: { automatic: boolean; feature: string }) => e.automatic && e.feature === 'positions');
    };
    await expect.poll(automatic, { timeout: 60_000, intervals: [100] }).toBeTruthy();
    // Both pages are on REST within a second of the rollback being recorded.
    for (const page of traders) {
      await expect(page.getByTestId('source-positions')).toHaveText('REST', { timeout: 1_000 });
    }
    const entry = await automatic();
    expect(entry.reason).toContain('no update');
    expect(entry.evidence.rollback.stale_pages).toBeGreaterThanOrEqual(2);

    // The operator's audit trail names it: who (automatic), why, and the evidence it was judged on;
    // and the operator's own change before it.
    const trail = ops.getByTestId('audit-trail');
    const row = trail.getByTestId(`audit-${entry.version}`);
    await expect(row.getByTestId('audit-who')).toHaveText('automatic', { timeout: 10_000 });
    await expect(row).toContainText('positions: live → rest');
    await expect(row.getByTestId('audit-reason')).toContainText('no update');
    await expect(row.getByTestId('audit-evidence')).toContainText(/judged on: \d+ pages without updates/);
    const manual = trail.locator('tr', { hasText: 'e2e: the gate is open' });
    await expect(manual.getByTestId('audit-who')).toHaveText('ops');
    await expect(manual.getByTestId('audit-evidence')).toContainText(/parity \d+\/\d+ from 2 pages of 2 users; gate open/);
  } finally {
    await Promise.all(contexts.map((c) => c.close()));
  }
  expect(problems).toEqual([]);
});
