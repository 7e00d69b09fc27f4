import { test, expect } from './fixtures';

// The trading back end on the release build, in real time: a fresh server shows balances revalued
// and 1-minute bars accumulating over REST within a minute.
test('a fresh server shows balances revalued and bars accumulating within a minute', async ({ request }) => {
  test.setTimeout(120_000);
  const login = await request.post('/api/auth/login', { data: { username: 'demo', password: 'demo' } });
  expect(login.status()).toBe(200);
  expect(login.headers()['set-cookie']).toContain('HttpOnly');

  const balance = async () => (await (await request.get('/api/account/balance')).json());
  const first = await balance();
  expect(first.type).toBe('account_balance');
  expect(first.data.account_number).toBe('THOR-10001');
  // The balance job runs every 10 s: a new valuation (next seq) at the prices of its time.
  await expect
    .poll(async () => (await balance()).seq, { timeout: 25_000, intervals: [1_000] })
    .toBeGreaterThan(first.seq);
  const later = await balance();
  expect(Date.parse(later.data.timestamp)).toBeGreaterThan(Date.parse(first.data.timestamp));
  expect(later.data.equity).toBeCloseTo(later.data.cash + later.data.market_value, 2);

  // The intraday job closes a bar at each minute boundary.
  await expect
    .poll(
      async () => {
        const bars = await (await request.get('/api/intraday/bars?symbol=SPY')).json();
        return bars.data.bars.length;
      },
      { timeout: 75_000, intervals: [2_000] },
    )
    .toBeGreaterThan(0);

  const markets = await (await request.get('/api/global-markets/status')).json();
  expect(markets.data.markets.map((m: { code: string }) => m.code)).toContain('XNYS');

  const other = await request.post('/api/auth/login', { data: { username: 'demo', password: 'wrong' } });
  expect(other.status()).toBe(401);
});
