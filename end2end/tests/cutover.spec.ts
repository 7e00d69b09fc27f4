import { test, expect, thor, FEATURES } from './fixtures';

// Every path of a cutover, for all four features, in a real browser against the release build:
// Shadow (REST renders, the socket is logged and compared), Live with `thor cutover` (the socket
// renders, REST polling stops), and a rollback (REST again, at once, without a reload).
test('each feature goes from shadow to live with thor cutover and back with a rollback', async ({ signedIn: page }) => {
  test.setTimeout(120_000);
  const logs: string[] = [];
  page.on('console', (message) => logs.push(message.text()));
  const requests: { path: string; at: number }[] = [];
  page.on('request', (request) => requests.push({ path: new URL(request.url()).pathname, at: Date.now() }));
  const askedSince = (path: string, since: number) => requests.filter((r) => r.path === path && r.at >= since);

  // Shadow, as every feature starts: the panel says REST, the console shows the socket's messages.
  for (const feature of FEATURES) {
    await expect(page.getByTestId(`source-${feature.name}`)).toHaveText('REST (Shadow)');
    await expect
      .poll(() => logs.some((line) => feature.types.some((type) => line.startsWith(`[WS] ${type}: {`))), {
        timeout: 20_000,
      })
      .toBe(true);
    await expect.poll(() => askedSince(feature.path, 0).length, { timeout: 15_000 }).toBeGreaterThan(0);
  }

  // Live: within a second of `thor cutover enable`, the panel renders from the socket.
  for (const feature of FEATURES) {
    thor(['cutover', 'enable', feature.name, '--force', '--reason', 'e2e: live']);
    await expect(page.getByTestId(`source-${feature.name}`)).toHaveText('WebSocket', { timeout: 1_000 });
  }
  const live = Date.now();
  const seqs = Object.fromEntries(
    await Promise.all(
      FEATURES.map(async (f) => [f.name, Number(await page.getByTestId(`head-${f.name}`).getAttribute('data-seq'))]),
    ),
  );
  const forming = await page.getByTestId('chart-latest').textContent();
  // Watched for two cadences of the slowest feature: values keep coming, REST is never asked.
  await page.waitForTimeout(2 * 10_000 + 500);
  for (const feature of FEATURES) {
    expect(askedSince(feature.path, live), `REST requests for ${feature.name} while live`).toEqual([]);
    await expect(page.getByTestId(`source-${feature.name}`)).toHaveText('WebSocket');
  }
  for (const name of ['account_balance', 'positions', 'global_market']) {
    const now = Number(await page.getByTestId(`head-${name}`).getAttribute('data-seq'));
    expect(now, `${name} kept updating over the socket`).toBeGreaterThan(seqs[name]);
  }
  expect(await page.getByTestId('chart-latest').textContent(), 'the forming bar moved').not.toBe(forming);
  await expect(page.getByTestId('cutover-mark-positions')).toHaveText('✅ WS');

  // Rolled back: every panel polls REST again within a second, without a reload.
  thor(['cutover', 'rollback', '--all', '--reason', 'e2e: roll back']);
  const back = Date.now();
  for (const feature of FEATURES) {
    await expect(page.getByTestId(`source-${feature.name}`)).toHaveText('REST', { timeout: 1_000 });
  }
  await expect
    .poll(() => FEATURES.filter((f) => askedSince(f.path, back).length === 0).map((f) => f.name), {
      timeout: 1_000,
      intervals: [100],
    })
    .toEqual([]);

  // Back to shadow, where the other specs expect every feature.
  for (const feature of FEATURES) {
    thor(['cutover', 'shadow', feature.name, '--reason', 'e2e: shadow again']);
    await expect(page.getByTestId(`source-${feature.name}`)).toHaveText('REST (Shadow)');
  }
});

// The control plane's test switch corrupts the socket's positions; the page's parity catches it.
test('a fault injected in shadow shows as a mismatch in the panel’s parity', async ({ signedIn: page, playwright, baseURL }) => {
  test.setTimeout(60_000);
  const ops = await playwright.request.newContext({ baseURL });
  try {
    expect((await ops.post('/api/auth/login', { data: { username: 'ops', password: 'ops' } })).status()).toBe(200);
    // First the page sees them agree.
    await expect
      .poll(async () => Number(await page.getByTestId('parity-samples-positions').textContent()), { timeout: 30_000 })
      .toBeGreaterThan(0);
    await expect(page.getByTestId('parity-mismatches-positions')).toHaveText('0');
    const fault = await ops.post('/api/cutover/fault', { data: { feature: 'positions', kind: 'corrupt' } });
    expect(fault.status()).toBe(204);
    await expect
      .poll(async () => Number(await page.getByTestId('parity-mismatches-positions').textContent()), { timeout: 40_000 })
      .toBeGreaterThan(0);
    await expect(page.getByTestId('parity-diff-positions')).toContainText('REST');
    await expect(page.getByTestId('parity-rate-positions')).not.toHaveText('100.0 %');
  } finally {
    await ops.post('/api/cutover/fault', { data: { feature: 'positions', kind: null } });
    await ops.dispose();
  }
});
