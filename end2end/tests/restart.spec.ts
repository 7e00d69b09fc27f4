import { test as base, expect } from '@playwright/test';
import { signIn, thor, FEATURES } from './fixtures';
import { OwnServer } from './own-server';

// A server of this spec's own (its own port and data directory), so it can be stopped and started
// under an open page without disturbing the other specs' server.
const own = new OwnServer(Number(process.env.THOR_E2E_RESTART_PORT ?? 3102));
const dataDir = own.dataDir;

const test = base.extend<{ server: OwnServer }>({
  server: async ({}, use) => {
    await own.start();
    await use(own);
    await own.stop();
  },
});

test.use({ baseURL: own.origin });

test('a server restart under an open page: panels fall back, recover, and the chart has no gap', async ({
  page,
  server,
}) => {
  test.setTimeout(150_000);
  // While the server is down, the browser reports the refused connections itself; anything else
  // is a problem, as in every other spec.
  let restarting = false;
  const problems: string[] = [];
  const expected = (text: string) =>
    restarting && /ERR_CONNECTION_REFUSED|WebSocket connection to|503|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET/.test(text);
  page.on('console', (m) => m.type() === 'error' && !expected(m.text()) && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('response', (r) => r.status() >= 400 && !expected(String(r.status())) && problems.push(`HTTP ${r.status()} ${r.url()}`));
  page.on('requestfailed', (r) => !restarting && problems.push(`failed: ${r.url()}`));

  await signIn(page);
  const closed = () =>
    page.locator('[data-testid="chart"] .candle:not(.forming)').evaluateAll((gs) => gs.map((g) => Number(g.getAttribute('data-minute'))));
  // A closed bar before the restart (the server is new: the first one closes at the next minute).
  await expect.poll(async () => (await closed()).length, { timeout: 75_000, intervals: [1_000] }).toBeGreaterThan(0);
  const beforeRestart = Math.max(...(await closed()));
  for (const feature of FEATURES) {
    thor(['cutover', 'enable', feature.name, '--force', '--reason', 'e2e: live before a restart'], { dataDir });
    await expect(page.getByTestId(`source-${feature.name}`)).toHaveText('WebSocket');
  }

  restarting = true;
  await server.stop();
  // The socket is gone: every live panel says so and polls REST meanwhile.
  for (const feature of FEATURES) {
    await expect(page.getByTestId(`source-${feature.name}`)).toHaveText('REST (fallback)', { timeout: 10_000 });
  }
  await expect(page.getByTestId('note-positions')).toContainText('fell back to REST');
  await server.start();
  for (const feature of FEATURES) {
    await expect(page.getByTestId(`source-${feature.name}`)).toHaveText('WebSocket', { timeout: 30_000 });
  }
  await expect(page.getByTestId('topbar-connection')).toHaveText('Live');
  restarting = false;

  // A bar closes after the restart, over the socket; then every bar the server has stored from
  // before the restart to now is on the chart.
  await expect.poll(async () => Math.max(...(await closed())), { timeout: 75_000, intervals: [1_000] }).toBeGreaterThan(beforeRestart);
  const onChart = await closed();
  expect(onChart).toContain(beforeRestart);
  const first = Math.min(...onChart);
  const last = Math.max(...onChart);
  const since = new Date(first).toISOString().replace('.000Z', 'Z');
  const stored = await (await page.request.get(`/api/intraday/bars?symbol=SPY&since=${since}`)).json();
  const storedMinutes: number[] = stored.data.bars
    .map((b: { timestamp_minute: string }) => Date.parse(b.timestamp_minute))
    .filter((m: number) => m <= last);
  expect(storedMinutes.length).toBeGreaterThan(0);
  expect(storedMinutes.filter((m) => !onChart.includes(m)), 'stored bars missing from the chart').toEqual([]);
  expect(problems).toEqual([]);
});
