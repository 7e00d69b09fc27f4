import { test, expect, signIn } from './fixtures';

const MONEY = /^-?\$[\d,]+\.\d\d$/;

// The first HTML the server sends a signed-in trader already has the numbers: no loading screen
// while the WebAssembly arrives.
test('the first HTML of / for a signed-in trader contains the balance, positions, chart and markets', async ({
  request,
}) => {
  const login = await request.post('/api/auth/login', { data: { username: 'demo', password: 'demo' } });
  expect(login.status()).toBe(200);
  // The balance job values accounts at start-up: by the time the page is asked for, it has.
  await expect.poll(async () => (await request.get('/api/account/balance')).status()).toBe(200);
  const html = await (await request.get('/')).text();
  const equity = html.match(/data-testid="balance-equity"[^>]*>([^<]+)</);
  expect(equity?.[1]).toMatch(MONEY);
  expect(html).toMatch(/data-testid="balance-cash"[^>]*>\$[\d,]+\.\d\d</);
  expect(html).toContain('data-testid="account-number">THOR-10001<');
  expect(html).toContain('data-testid="position-row"');
  expect(html).toContain('data-testid="market-XNYS"');
  expect(html).toContain('data-testid="chart"');
  expect(html).toContain('Times in UTC');
});

test('every panel shows its data at once, and hydration does not refetch what the server rendered', async ({
  page,
}) => {
  const restPaths = ['/api/account/balance', '/api/positions', '/api/global-markets/status'];
  const fetched: string[] = [];
  page.on('request', (request) => {
    const path = new URL(request.url()).pathname;
    if (restPaths.includes(path)) fetched.push(path);
  });
  await signIn(page);
  await expect(page.getByTestId('topbar-connection')).toHaveText('Live');
  const hydratedAt = Date.now();
  await expect(page.getByTestId('balance-equity')).toHaveText(MONEY);
  await expect(page.getByTestId('position-row').first()).toBeVisible();
  await expect(page.getByTestId('market-XNYS')).toBeVisible();
  await expect(page.getByTestId('chart')).toBeVisible();
  for (const name of ['account_balance', 'positions', 'intraday', 'global_market']) {
    await expect(page.getByTestId(`source-${name}`)).toHaveText('REST (Shadow)');
  }
  // The 10 s features are not asked for again until a cadence after the page started.
  const quiet = 8_000 - (Date.now() - hydratedAt);
  if (quiet > 0) await page.waitForTimeout(quiet);
  expect(fetched).toEqual([]);
});

// Hydration takes over the server's HTML without a flash: from the moment the document is
// parsed until the page is live, every change to the DOM is sampled, and no sample shows a panel
// emptied, a loading state, or different figures than the server rendered.
test('hydration neither flashes nor empties a panel', async ({ page }) => {
  await page.addInitScript(() => {
    const samples: { equity: string | null; rows: number; markets: number; loading: number }[] = [];
    (window as unknown as { __samples: typeof samples }).__samples = samples;
    const sample = () =>
      samples.push({
        equity: document.querySelector('[data-testid="balance-equity"]')?.textContent ?? null,
        rows: document.querySelectorAll('[data-testid="position-row"]').length,
        markets: document.querySelectorAll('[data-testid^="market-"]').length,
        loading: [...document.querySelectorAll('.panel')].filter((p) => p.textContent?.includes('Loading…')).length,
      });
    document.addEventListener('DOMContentLoaded', () => {
      if (location.pathname !== '/') return;
      sample();
      new MutationObserver(sample).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
  });
  await signIn(page);
  await expect(page.getByTestId('topbar-connection')).toHaveText('Live');
  const samples: { equity: string | null; rows: number; markets: number; loading: number }[] = await page.evaluate(
    () => (window as unknown as { __samples: never[] }).__samples,
  );
  // The first sample is the server's HTML, the rest every change up to and after hydration.
  expect(samples.length, 'hydration and the live page change the DOM').toBeGreaterThan(1);
  const first = samples[0];
  expect(first.equity).toMatch(MONEY);
  expect(first.rows).toBeGreaterThan(0);
  expect(first.markets).toBeGreaterThan(0);
  for (const s of samples) {
    expect(s.equity, 'the balance was never blank').toMatch(MONEY);
    expect(s.rows, 'the positions were never emptied').toBe(first.rows);
    expect(s.markets, 'the markets were never emptied').toBe(first.markets);
    expect(s.loading, 'no loading state').toBe(0);
  }
});

test('demo and demo2 never see each other’s balance or positions', async ({ browser }) => {
  test.setTimeout(60_000);
  const one = await browser.newContext();
  const two = await browser.newContext();
  try {
    const demo = await one.newPage();
    const demo2 = await two.newPage();
    await signIn(demo, 'demo', 'demo');
    await signIn(demo2, 'demo2', 'demo2');
    await expect(demo.getByTestId('account-number')).toHaveText('THOR-10001');
    await expect(demo2.getByTestId('account-number')).toHaveText('THOR-10002');
    const holdings = async (page: typeof demo) =>
      (await page.getByTestId('position-row').evaluateAll((rows) =>
        rows.map((row) => `${row.getAttribute('data-symbol')}:${row.children[1]?.textContent}`),
      )).sort();
    const symbols = async (page: typeof demo) =>
      (await page.getByTestId('position-row').evaluateAll((rows) =>
        rows.map((row) => row.getAttribute('data-symbol')),
      )).sort();
    // Exactly each one's own holdings: a page that showed both traders' rows would fail here.
    expect(await symbols(demo)).toEqual(['AAPL', 'MSFT', 'SPY']);
    expect(await symbols(demo2)).toEqual(['IWM', 'QQQ']);
    const demoHoldings = await holdings(demo);
    const demo2Holdings = await holdings(demo2);
    // Through a round of updates, each keeps seeing only their own.
    const seq = demo.getByTestId('head-account_balance');
    const before = Number(await seq.getAttribute('data-seq'));
    await expect.poll(async () => Number(await seq.getAttribute('data-seq')), { timeout: 25_000 }).toBeGreaterThan(before);
    await expect(demo.getByTestId('account-number')).toHaveText('THOR-10001');
    await expect(demo2.getByTestId('account-number')).toHaveText('THOR-10002');
    expect(await holdings(demo)).toEqual(demoHoldings);
    expect(await holdings(demo2)).toEqual(demo2Holdings);
  } finally {
    await one.close();
    await two.close();
  }
});

test('a trader sees no operator controls, and the API refuses them a flag change', async ({ signedIn: page }) => {
  await expect(page.getByTestId('panel-cutover')).toBeVisible();
  await expect(page.getByTestId('operator-controls')).toHaveCount(0);
  const refused = await page.request.post('/api/cutover/positions', {
    data: { stage: 'live', reason: 'a trader tries', force: true },
  });
  expect(refused.status()).toBe(403);
  await expect(page.getByTestId('source-positions')).toHaveText('REST (Shadow)');
});

test('an operator changes a flag from the keyboard, with a reason, and every page follows', async ({ page, browser }) => {
  const traderContext = await browser.newContext();
  try {
    const trader = await traderContext.newPage();
    await signIn(trader, 'demo', 'demo');
    const accountRequests: string[] = [];
    page.on('request', (request) => {
      const path = new URL(request.url()).pathname;
      if (path === '/api/account/balance' || path === '/api/positions') accountRequests.push(path);
    });
    await signIn(page, 'ops', 'ops');
    await expect(page.getByTestId('topbar-connection')).toHaveText('Live');
    // An operator has no paper account, and their page does not ask for one.
    await expect(page.getByTestId('no-account')).toHaveCount(2);
    const controls = page.getByTestId('operator-controls');
    await expect(controls).toBeVisible();
    // The fleet's evidence beside the controls: the gate says what it still needs.
    await expect(page.getByTestId('fleet-gate-positions')).toContainText(/^(open|closed: .+)$/);
    await expect(trader.getByTestId('fleet-positions')).toHaveCount(0);

    await page.getByTestId('control-feature').selectOption('global_market');
    // No reason, no change: said on the page, nothing sent.
    await page.getByTestId('control-rest').focus();
    await page.keyboard.press('Enter');
    await expect(page.getByTestId('control-outcome')).toHaveText('Say why: a reason is required for every change.');

    await page.getByTestId('control-reason').fill('e2e: markets back to REST');
    await page.getByTestId('control-rest').focus();
    await page.keyboard.press('Enter');
    await expect(page.getByTestId('control-outcome')).toContainText('Done');
    await expect(trader.getByTestId('cutover-stage-global_market')).toHaveText('rest');
    await expect(trader.getByTestId('source-global_market')).toHaveText('REST');

    await page.getByTestId('control-reason').fill('e2e: markets back to shadow');
    await page.getByTestId('control-shadow').click();
    await expect(trader.getByTestId('source-global_market')).toHaveText('REST (Shadow)');
    expect(accountRequests, 'an operator page asks for no account').toEqual([]);
  } finally {
    await traderContext.close();
  }
});

test('positions sort by any column, with totals', async ({ signedIn: page }) => {
  const symbols = () => page.getByTestId('position-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-symbol')));
  await page.getByTestId('sort-symbol').click();
  const ascending = await symbols();
  expect(ascending).toEqual([...ascending].sort());
  await page.getByTestId('sort-symbol').click();
  expect(await symbols()).toEqual([...ascending].reverse());
  await expect(page.getByTestId('positions-total-value')).toHaveText(MONEY);
});

test('the colour-blind palette is remembered, from the first paint on', async ({ signedIn: page }) => {
  const board = page.getByTestId('dashboard');
  await expect(board).not.toHaveClass(/palette-cb/);
  await page.getByTestId('palette-toggle').click();
  await expect(board).toHaveClass(/palette-cb/);
  const html = await (await page.request.get('/')).text();
  expect(html).toMatch(/class="board palette-cb"/);
  await page.reload();
  await expect(page.getByTestId('dashboard')).toHaveClass(/palette-cb/);
  await page.getByTestId('palette-toggle').click();
  await expect(page.getByTestId('dashboard')).not.toHaveClass(/palette-cb/);
});

test('market countdowns tick every second on the page, without a request', async ({ signedIn: page }) => {
  let asked = 0;
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === '/api/global-markets/status') asked += 1;
  });
  const countdown = page.getByTestId('countdown-XNYS');
  const first = await countdown.textContent();
  await expect.poll(async () => countdown.textContent(), { timeout: 3_000 }).not.toBe(first);
  const second = await countdown.textContent();
  await expect.poll(async () => countdown.textContent(), { timeout: 3_000 }).not.toBe(second);
  expect(asked).toBe(0);
});
