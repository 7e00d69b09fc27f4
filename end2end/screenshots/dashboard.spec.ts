import { test, expect } from '@playwright/test';
import * as path from 'node:path';
import { signIn } from '../tests/fixtures';

const docs = path.resolve(__dirname, '..', '..', 'docs');

for (const [name, viewport] of [
  ['dashboard-wide.png', { width: 1440, height: 1000 }],
  ['dashboard-narrow.png', { width: 390, height: 844 }],
] as const) {
  test(`screenshot: ${name}`, async ({ page }) => {
    test.setTimeout(120_000);
    await page.setViewportSize(viewport);
    await signIn(page);
    await expect(page.getByTestId('topbar-connection')).toHaveText('Live');
    // A few closed bars on the chart first.
    await expect
      .poll(async () => page.locator('[data-testid="chart"] .candle:not(.forming)').count(), { timeout: 100_000, intervals: [2_000] })
      .toBeGreaterThan(1);
    await page.screenshot({ path: path.join(docs, name), fullPage: true });
  });
}

test('screenshot: cutover-operator.png', async ({ page }) => {
  await page.setViewportSize({ width: 1440, height: 1000 });
  await signIn(page, 'ops', 'ops');
  await expect(page.getByTestId('topbar-connection')).toHaveText('Live');
  await expect(page.getByTestId('fleet-gate-positions')).not.toBeEmpty();
  await page.getByTestId('control-reason').fill('rehearsal: positions go live for 10 % of sessions');
  await page.getByTestId('panel-cutover').screenshot({ path: path.join(docs, 'cutover-operator.png') });
});
