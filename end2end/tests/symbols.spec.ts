import { test, expect, signIn } from './fixtures';

// A page's socket carries the per-symbol topics (closed bars, the forming bar, VWAP) of the
// symbol it charts, not of every symbol: it opens with `?symbols=SPY`, and a pick of AAPL
// subscribes to AAPL and drops SPY. Its chart and parity carry on across the pick: the page's
// own reports (what the rollback and the gate read) count no gap and no mismatch for the
// intraday feature, with at least one bar compared after the pick.

type Frame = { type: string; symbol?: string; symbols?: string[] };
type Report = { features: { feature: string; gaps: number; parity: { matched: number; mismatched: number; missing_on_ws: number } }[] };

const PER_SYMBOL = ['intraday_bar', 'forming_bar', 'vwap'];

test('a page charting SPY receives no other symbol’s bars; after picking AAPL, AAPL’s alone, and its chart and parity carry on', async ({
  page,
}) => {
  // A bar must close after the pick (up to a minute) and be polled and reported (5 s each).
  test.setTimeout(150_000);
  const frames: Frame[] = [];
  const sockets: string[] = [];
  page.on('websocket', (ws) => {
    sockets.push(ws.url());
    ws.on('framereceived', ({ payload }) => {
      if (typeof payload !== 'string') return;
      const message = JSON.parse(payload);
      frames.push({ type: message.type, symbol: message.data?.symbol, symbols: message.data?.symbols });
    });
  });
  const reports: { at: number; report: Report }[] = [];
  page.on('request', (request) => {
    if (request.method() === 'POST' && new URL(request.url()).pathname === '/api/cutover/report') {
      reports.push({ at: Date.now(), report: request.postDataJSON() });
    }
  });

  await signIn(page);
  await expect(page.getByTestId('topbar-connection')).toHaveText('Live');
  await expect(page.getByTestId('chart-symbol')).toHaveValue('SPY');
  expect(sockets).toEqual([expect.stringMatching(/\/ws\?symbols=SPY$/)]);
  const formingOf = (from: number, symbol: string) =>
    frames.slice(from).filter((f) => f.type === 'forming_bar' && f.symbol === symbol).length;
  await expect.poll(() => formingOf(0, 'SPY'), { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
  const others = (from: number, symbol: string) =>
    frames.slice(from).filter((f) => PER_SYMBOL.includes(f.type) && f.symbol !== symbol);
  expect(others(0, 'SPY')).toEqual([]);

  const before = await page.getByTestId('chart-latest').textContent();
  const pickedAt = Date.now();
  await page.getByTestId('chart-symbol').selectOption('AAPL');
  // The server confirms the new subscription; from then on, AAPL's alone.
  let confirmed = -1;
  await expect
    .poll(
      () => {
        confirmed = frames.findIndex((f) => f.type === 'subscribed' && f.symbols?.join() === 'AAPL');
        return confirmed;
      },
      { timeout: 10_000 },
    )
    .toBeGreaterThan(-1);
  await expect.poll(() => formingOf(confirmed, 'AAPL'), { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
  expect(others(confirmed, 'AAPL')).toEqual([]);
  // The same socket: a pick is a message, not a reconnect.
  expect(sockets).toHaveLength(1);

  // The chart is AAPL's now, and moves on.
  await expect(page.getByTestId('chart-latest')).not.toHaveText(before ?? '');
  const drawn = await page.getByTestId('chart-latest').textContent();
  await expect(page.getByTestId('chart-latest')).not.toHaveText(drawn ?? '', { timeout: 10_000 });

  // Parity carries on: the reports sent after the pick count no gap, mismatch or missing bar,
  // and at least one of AAPL's bars compared.
  const intradaySince = () =>
    reports
      .filter((r) => r.at > pickedAt)
      .flatMap((r) => r.report.features.filter((f) => f.feature === 'intraday'));
  await expect
    .poll(() => intradaySince().reduce((n, f) => n + f.parity.matched, 0), { timeout: 100_000 })
    .toBeGreaterThanOrEqual(1);
  const totals = intradaySince().reduce(
    (t, f) => ({
      gaps: t.gaps + f.gaps,
      mismatched: t.mismatched + f.parity.mismatched,
      missing: t.missing + f.parity.missing_on_ws,
    }),
    { gaps: 0, mismatched: 0, missing: 0 },
  );
  expect(totals).toEqual({ gaps: 0, mismatched: 0, missing: 0 });
  await expect(page.getByTestId('parity-mismatches-intraday')).toHaveText('0');
});
