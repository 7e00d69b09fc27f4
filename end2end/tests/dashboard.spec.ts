import { test, expect, signIn } from './fixtures';

const MONEY = /^-?\$[\d,]+\.\d\d$/;

/// `hh:mm` of an instant on a zone's clock.
function clock(ms: number, timeZone: string): string {
  return new Date(ms).toLocaleTimeString('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
}

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
  // The chart reads the exchange's clock by default (SPY trades in New York).
  expect(html).toMatch(/Times in New York \(UTC−0[45]:00\)/);
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
      if (['/api/account/balance', '/api/positions', '/api/orders'].includes(path)) accountRequests.push(path);
    });
    await signIn(page, 'ops', 'ops');
    await expect(page.getByTestId('topbar-connection')).toHaveText('Live');
    // An operator has no paper account (balance, positions, orders), and their page does not ask
    // for one.
    await expect(page.getByTestId('no-account')).toHaveCount(3);
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

// The operator tools are a chunk of their own (`cargo leptos build --split`), fetched once the page
// has hydrated. A chunk that cannot be fetched is said where the tools are; the tools stay
// disabled, and the rest of the page lives on.
test('an operator page whose tools cannot be fetched says so, and the rest of it works', async ({ page, problems }) => {
  await page.route('**/pkg/split_thor_operator_tools.*', (route) => route.abort());
  await signIn(page, 'ops', 'ops');
  await expect(page.getByTestId('topbar-connection')).toHaveText('Live');
  await expect(page.getByTestId('operator-tools-failed')).toContainText('could not be loaded');
  // What the server rendered stays, readable and disabled.
  await expect(page.getByTestId('operator-controls')).toBeVisible();
  await expect(page.getByTestId('control-reason')).toBeDisabled();
  // The page's own panels carry on: the heartbeat keeps ticking.
  const tick = page.getByTestId('heartbeat-tick');
  const seen = await tick.textContent();
  await expect(tick).not.toHaveText(seen ?? '', { timeout: 5_000 });
  // The failures this test caused, and only those: the aborted fetches of the chunk (its
  // preload and the loader's) and what the browser and the loader log for them.
  const caused = (problem: string) =>
    problem.includes('split_thor_operator_tools') ||
    /^console error: (Failed to load resource: net::ERR_FAILED|TypeError: Failed to fetch)/.test(problem);
  expect(problems.filter(caused).length, problems.join('\n')).toBeGreaterThan(0);
  problems.splice(0, problems.length, ...problems.filter((problem) => !caused(problem)));
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

test('the chart’s crosshair reads out the bar under the pointer, and under the keyboard', async ({ signedIn: page }) => {
  const chart = page.getByTestId('chart');
  const candles = chart.locator('g.candle');
  await expect(candles.first()).toBeVisible();
  const readout = page.getByTestId('chart-crosshair');
  // Times on New York's clock, the exchange's (the default).
  const utc = async (i: number) =>
    `${clock(Number(await candles.nth(i).getAttribute('data-minute')), 'America/New_York')} New York`;
  const ohlcv = /: open [\d,]+\.\d\d, high [\d,]+\.\d\d, low [\d,]+\.\d\d, close [\d,]+\.\d\d, volume [\d,]+; session VWAP [\d,]+\.\d\d$/;

  // The pointer over the second bar's slot: its time, OHLCV and VWAP, and the crosshair's line.
  // (The second, so that it is still drawn when the next bar closes and the oldest leaves.)
  const chosen = await utc(1);
  await candles.nth(1).hover();
  await expect(readout).toContainText(chosen);
  await expect(readout).toHaveText(ohlcv);
  await expect(page.getByTestId('chart-crosshair-line')).toHaveCount(1);
  // It stays on that bar while new ones come, even when the window moves on and another bar
  // takes the slot under the resting pointer; it leaves with the pointer.
  test.setTimeout(120_000);
  const latest = await candles.last().getAttribute('data-minute');
  await expect(candles.last()).not.toHaveAttribute('data-minute', latest ?? '', { timeout: 70_000 });
  await expect(readout).toContainText(chosen);
  await page.mouse.move(1, 1);
  await expect(readout).toHaveText('');

  // The keyboard: focus the chart, End is the latest bar, ArrowLeft the one before, Home the
  // first; the chart keeps the focus through the bars' updates; Escape clears.
  await chart.focus();
  await page.keyboard.press('End');
  const count = await candles.count();
  await expect(readout).toContainText(await utc(count - 1));
  const shown = await page.getByTestId('chart-latest').textContent();
  await expect(page.getByTestId('chart-latest')).not.toHaveText(shown ?? '');
  await expect(chart).toBeFocused();
  if (count > 1) {
    await page.keyboard.press('ArrowLeft');
    await expect(readout).toContainText(await utc(count - 2));
  }
  await page.keyboard.press('Home');
  await expect(readout).toContainText(await utc(0));
  await expect(readout).toHaveText(ohlcv);
  await page.keyboard.press('Escape');
  await expect(readout).toHaveText('');
});

test.describe('in Kolkata', () => {
  test.use({ timezoneId: 'Asia/Kolkata' });

  test('the chart’s interval and clock are the trader’s, and the next page starts with them', async ({ signedIn: page }) => {
    const chart = page.getByTestId('chart');
    const candles = chart.locator('g.candle');
    await expect(candles.first()).toBeVisible();
    const readout = page.getByTestId('chart-crosshair');
    // A closed bar first: from then on the page's polls ask only for what follows it, so the
    // longer window's request below is the history's, not a chart still starting (a server of
    // this spec's may be younger than a minute).
    test.setTimeout(120_000);
    await expect(chart.locator('g.candle:not(.forming)').first()).toBeVisible({ timeout: 70_000 });

    // 15-minute bars: the page asks for fifteen hours of history (with the session's trading
    // before it), whatever the feature's source, and draws bars that start on the quarter hour.
    const history = page.waitForRequest((r) => {
      const url = new URL(r.url());
      const since = url.searchParams.get('since');
      return (
        url.pathname === '/api/intraday/bars' &&
        url.searchParams.get('session') === 'true' &&
        since !== null &&
        Date.now() - Date.parse(since) > 14.9 * 3_600_000
      );
    });
    await page.getByTestId('chart-interval').selectOption('15');
    await history;
    await expect(page.locator('#chart-title')).toHaveText('SPY, 15-minute bars');
    await expect
      .poll(async () => (await candles.evaluateAll((gs) => gs.map((g) => Number(g.getAttribute('data-minute'))))).every((m) => m % 900_000 === 0))
      .toBe(true);
    // One forming bar at most, and the crosshair reads the 15-minute bar out (the first: the
    // last may be replaced by a newer one meanwhile).
    expect(await chart.locator('g.candle.forming').count()).toBeLessThanOrEqual(1);
    const start = Number(await candles.first().getAttribute('data-minute'));
    await candles.first().hover();
    await expect(readout).toContainText(`${clock(start, 'America/New_York')} New York`);

    // The browser's clock: Kolkata is UTC+05:30.
    await page.getByTestId('chart-zone').selectOption('browser');
    await expect(page.getByTestId('chart-zone-caption')).toHaveText("Times in your browser's zone (UTC+05:30)");
    await page.mouse.move(1, 1);
    await candles.first().hover();
    await expect(readout).toContainText(`${clock(start, 'Asia/Kolkata')} local`);
    await expect(page.getByTestId('chart-latest')).toContainText(' local (');

    // The next page starts with them: the server's first HTML is already drawn that way.
    const html = await (await page.request.get('/')).text();
    expect(html).toContain('SPY, 15-minute bars');
    expect(html).toContain('(UTC+05:30)');
    await page.reload();
    await expect(page.getByTestId('chart-interval')).toHaveValue('15');
    await expect(page.getByTestId('chart-zone')).toHaveValue('browser');
    await expect(page.locator('#chart-title')).toHaveText('SPY, 15-minute bars');

    // Back to 1 minute in UTC.
    await page.getByTestId('chart-interval').selectOption('1');
    await page.getByTestId('chart-zone').selectOption('utc');
    await expect(page.getByTestId('chart-zone-caption')).toHaveText('Times in UTC');
    await expect(page.locator('#chart-title')).toHaveText('SPY, 1-minute bars');
    const minute = Number(await candles.first().getAttribute('data-minute'));
    await candles.first().hover();
    await expect(readout).toContainText(`${new Date(minute).toISOString().slice(11, 16)} UTC`);
  });
});
