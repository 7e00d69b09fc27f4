import { test as base, expect, type Page } from '@playwright/test';
import { signIn, thor } from './fixtures';
import { OwnServer } from './own-server';

// The fifth feature, `orders`, at each of its stages: a trader places an order from the ticket on
// the page (keyboard only: the fields, Enter to review, Enter to place), and the fill shows in
// Orders, Positions and Balance: over the socket when Live (the next trade fills it, and all three
// panels show the fill within a second of it, by the page's clock), by REST polling within a
// cadence otherwise; in Shadow the page's parity stays at 100 % across the edit. The other
// trader's page shows none of it.
// A server of this spec's own, so the accounts start from the demo seed.
const own = new OwnServer(Number(process.env.THOR_E2E_ORDERS_PORT ?? 3106));

// One server for the three stages (each test moves the feature on), started once per worker.
const test = base.extend<object, { server: OwnServer }>({
  server: [
    async ({}, use) => {
      await own.start();
      await use(own);
      await own.stop();
    },
    { scope: 'worker' },
  ],
});

test.use({ baseURL: own.origin });

function watch(page: Page, problems: string[]) {
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('response', (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()} ${r.url()}`));
}

/// The quantity the positions table shows for `symbol` (0 when it is not held).
async function held(page: Page, symbol: string): Promise<number> {
  const row = page.locator(`[data-testid="position-row"][data-symbol="${symbol}"] td`).first();
  if ((await row.count()) === 0) return 0;
  return Number((await row.textContent())?.replace(/,/g, ''));
}

async function cash(page: Page): Promise<number> {
  return Number((await page.getByTestId('balance-cash').textContent())?.replace(/[$,]/g, ''));
}

/// Stamps, in the page, the moment (epoch ms) each panel first shows the coming fill: a new filled
/// order in Orders, a changed AAPL quantity in Positions, a changed cash figure in Balance.
async function stampArrivals(page: Page, filledBefore: number, aapl: number) {
  await page.evaluate(
    ({ filledBefore, aapl, cashText }) => {
      const seen: Record<string, number> = {};
      (window as unknown as { thorArrivals: Record<string, number> }).thorArrivals = seen;
      const check = () => {
        const now = Date.now();
        const filled = document.querySelectorAll('[data-testid="finished-order"][data-status="filled"]').length;
        if (seen.orders === undefined && filled > filledBefore) seen.orders = now;
        const row = document.querySelector('[data-testid="position-row"][data-symbol="AAPL"] td');
        const held = row ? Number(row.textContent?.replace(/,/g, '')) : 0;
        if (seen.positions === undefined && held !== aapl) seen.positions = now;
        const cash = document.querySelector('[data-testid="balance-cash"]')?.textContent;
        if (seen.balance === undefined && cash !== cashText) seen.balance = now;
      };
      new MutationObserver(check).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    },
    { filledBefore, aapl, cashText: await page.getByTestId('balance-cash').textContent() },
  );
}

// What a fill changes is three features; each stage puts all three there.
const changed = ['orders', 'positions', 'account_balance'];
const stages = [
  // Every feature starts in Shadow.
  { stage: 'shadow', verb: null, source: 'REST (Shadow)', within: 12_000 },
  { stage: 'live', verb: ['enable', '--force'], source: 'WebSocket', within: 2_000 },
  { stage: 'rest', verb: ['disable'], source: 'REST', within: 12_000 },
];

for (const { stage, verb, source, within } of stages) {
  test(`orders in ${stage}: a trader’s order from the ticket fills into Orders, Positions and Balance, and nobody else sees it`, async ({
    browser,
    server,
  }) => {
    test.setTimeout(90_000);
    for (const feature of verb ? changed : []) {
      const [command, ...flags] = verb ?? [];
      thor(['cutover', command, feature, ...flags, '--reason', `e2e: orders in ${stage}`], { dataDir: server.dataDir });
    }
    const problems: string[] = [];
    const contexts = await Promise.all([browser.newContext(), browser.newContext()]);
    try {
      const [demo, demo2] = await Promise.all(contexts.map((c) => c.newPage()));
      watch(demo, problems);
      watch(demo2, problems);
      const logs: string[] = [];
      demo.on('console', (m) => logs.push(m.text()));
      await signIn(demo, 'demo', 'demo');
      await signIn(demo2, 'demo2', 'demo2');
      for (const page of [demo, demo2]) {
        for (const feature of changed) await expect(page.getByTestId(`source-${feature}`)).toHaveText(source);
        await expect(page.getByTestId('balance-cash')).toHaveText(/\$/);
      }
      await expect(demo.getByTestId('position-row').first()).toBeVisible();
      const before = { aapl: await held(demo, 'AAPL'), cash: await cash(demo) };
      const theirs = { cash: await cash(demo2), rows: await demo2.getByTestId('position-row').count() };

      // Keyboard first: symbol, side, quantity; Enter reviews, Enter places.
      const filled = demo.locator('[data-testid="finished-order"][data-status="filled"]');
      const filledBefore = await filled.count();
      const quantity = 5 + filledBefore;
      await demo.getByTestId('ticket-symbol').selectOption('AAPL');
      await demo.getByTestId('ticket-side').selectOption('buy');
      await demo.getByTestId('ticket-quantity').fill(String(quantity));
      await demo.getByTestId('ticket-quantity').press('Enter');
      await expect(demo.getByTestId('ticket-confirm')).toContainText(`Buy ${quantity} AAPL at market`);
      if (stage === 'live') await stampArrivals(demo, filledBefore, before.aapl);
      await demo.getByTestId('ticket-place').press('Enter');
      await expect(demo.getByTestId('ticket-outcome')).toContainText('placed');

      // The fill, on the page: Orders, Positions and Balance.
      await expect(filled).toHaveCount(filledBefore + 1, { timeout: within });
      await expect(filled.first()).toContainText(`buy ${quantity} AAPL market`);
      // Live, the fill's positions and balance come with it (pushed at once): within a second of
      // the Orders panel showing it. Otherwise each feature's next poll brings it.
      const after = stage === 'live' ? 1_000 : within;
      await expect.poll(() => held(demo, 'AAPL'), { timeout: after }).toBe(before.aapl + quantity);
      await expect.poll(() => cash(demo), { timeout: after }).toBeLessThan(before.cash);
      const price = Number(
        (await filled.first().locator('.order-status').textContent())?.replace(/[^\d.]/g, ''),
      );
      await expect.poll(() => cash(demo), { timeout: after }).toBeCloseTo(before.cash - quantity * price, 2);

      if (stage === 'live') {
        // A market order fills on the next trade (up to a second after the click); from that fill,
        // the page shows it in Orders, Positions and Balance within a second, by the browser's own
        // clock (the server's is the same machine's).
        // The REST answer is the socket's envelope: `{ type: 'orders', data, seq, epoch, ts }`.
        const { data: orders } = await (await demo.request.get('/api/orders')).json();
        const order = orders.finished.find((o: { status: string; quantity: number }) => o.status === 'filled' && o.quantity === quantity);
        expect(order, 'the filled order in GET /api/orders').toBeDefined();
        const filledAt = Date.parse(order.ended_at);
        const seen = await demo.evaluate(() => (window as unknown as { thorArrivals: Record<string, number> }).thorArrivals);
        for (const panel of ['orders', 'positions', 'balance']) {
          expect(seen[panel], `${panel} showed the fill`).toBeDefined();
          expect(seen[panel] - filledAt, `${panel}: ms from the fill to the page`).toBeLessThanOrEqual(1_000);
        }
      }

      if (stage === 'shadow') {
        // The socket's copy of every REST answer matched, across the edit.
        await expect.poll(() => logs.some((l) => l.startsWith('[WS] orders: {')), { timeout: 12_000 }).toBe(true);
        await expect
          .poll(async () => Number(await demo.getByTestId('parity-samples-orders').textContent()), { timeout: 25_000 })
          .toBeGreaterThanOrEqual(2);
        await expect(demo.getByTestId('parity-mismatches-orders')).toHaveText('0');
      }

      // The other trader: no order, no new position, the same cash.
      await demo2.waitForTimeout(1_000);
      await expect(demo2.getByTestId('orders-finished-empty')).toBeVisible();
      await expect(demo2.getByTestId('orders-open-empty')).toBeVisible();
      expect(await demo2.getByTestId('position-row').count()).toBe(theirs.rows);
      expect(await held(demo2, 'AAPL')).toBe(0);
      expect(await cash(demo2)).toBe(theirs.cash);
      expect(problems).toEqual([]);
    } finally {
      await Promise.all(contexts.map((c) => c.close()));
    }
  });
}
