import { test as base, expect } from '@playwright/test';
import { OwnServer } from './own-server';

// The trading back end on the release build, in real time: a fresh server (this spec's own, with
// an empty data directory, started by the spec itself) shows balances revalued and 1-minute bars
// accumulating over REST within a minute.
const own = new OwnServer(Number(process.env.THOR_E2E_TRADING_PORT ?? 3104));
const test = base.extend<{ server: OwnServer }>({
  server: [
    async ({}, use) => {
      await own.start();
      await use(own);
      await own.stop();
    },
    { auto: true },
  ],
});
test.use({ baseURL: own.origin });

test('a fresh server shows balances revalued and bars accumulating within a minute', async ({ request }) => {
  test.setTimeout(120_000);
  const started = Date.now();
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

  // The intraday job closes a bar at each minute boundary, from the minute the server started:
  // none from before it (the server is new), and more as minutes pass.
  const bars = async (): Promise<number[]> => {
    const reply = await (await request.get('/api/intraday/bars?symbol=SPY')).json();
    return reply.data.bars.map((b: { timestamp_minute: string }) => Date.parse(b.timestamp_minute));
  };
  const startMinute = Math.floor(started / 60_000) * 60_000 - 60_000;
  const atFirst = await bars();
  expect(atFirst.filter((m) => m < startMinute), 'bars from before the server started').toEqual([]);
  await expect
    .poll(async () => (await bars()).length, { timeout: 75_000, intervals: [2_000] })
    .toBeGreaterThan(atFirst.length);
  expect((await bars()).filter((m) => m < startMinute)).toEqual([]);

  const markets = await (await request.get('/api/global-markets/status')).json();
  expect(markets.data.markets.map((m: { code: string }) => m.code)).toContain('XNYS');

  const other = await request.post('/api/auth/login', { data: { username: 'demo', password: 'wrong' } });
  expect(other.status()).toBe(401);
});
