import { test as base, expect, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';

/// Runs the `thor` binary under test (e.g. `thor cutover enable positions …`) against the data
/// directory of the server under test, as an operator would on its machine; returns its output.
export function thor(args: string[], options: { input?: string; dataDir?: string } = {}): string {
  const bin = process.env.THOR_E2E_BIN;
  const dataDir = options.dataDir ?? process.env.THOR_E2E_DATA_DIR;
  if (!bin || !dataDir) throw new Error('THOR_E2E_BIN and THOR_E2E_DATA_DIR come from playwright.config.ts');
  return execFileSync(bin, args, {
    env: { ...process.env, THOR_DATA_DIR: dataDir, RUST_LOG: 'warn' },
    input: options.input ?? '',
    encoding: 'utf8',
    timeout: 20_000,
  });
}

/// The live features: their names, socket types, REST paths and cadences (app/src/feature.rs).
/// `types` are the socket types a feature's `[WS]` lines carry (intraday's forming bar comes every
/// second; its closed bars once a minute).
export const FEATURES = [
  { name: 'account_balance', types: ['account_balance'], path: '/api/account/balance', cadenceMs: 10_000 },
  { name: 'positions', types: ['positions'], path: '/api/positions', cadenceMs: 10_000 },
  { name: 'intraday', types: ['forming_bar', 'intraday_bar', 'vwap'], path: '/api/intraday/bars', cadenceMs: 1_000 },
  { name: 'global_market', types: ['market_status'], path: '/api/global-markets/status', cadenceMs: 10_000 },
  { name: 'orders', types: ['orders'], path: '/api/orders', cadenceMs: 10_000 },
] as const;

/// Signs in through the real sign-in form (fill, submit) and lands on the dashboard.
export async function signIn(page: Page, username = 'demo', password = 'demo') {
  await page.goto('/login');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId('signed-in-user')).toHaveText(username);
}

// Every page under test fails on any console error, uncaught exception or HTTP status >= 400.
export const test = base.extend<{ problems: string[]; signedIn: Page }>({
  problems: [
    async ({ page }, use) => {
      const problems: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
      });
      page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
      page.on('response', (response) => {
        if (response.status() >= 400) problems.push(`HTTP ${response.status()} ${response.url()}`);
      });
      page.on('requestfailed', (request) => {
        problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`);
      });
      await use(problems);
      expect(problems, 'console errors and failed requests').toEqual([]);
    },
    { auto: true },
  ],
  // The page, signed in as demo through the form, on the hydrated dashboard ("Live" needs the
  // WebAssembly running), so nothing of the first load is still in flight when a test goes on.
  signedIn: async ({ page }, use) => {
    await signIn(page);
    await expect(page.getByTestId('topbar-connection')).toHaveText('Live');
    await use(page);
  },
});

export { expect };
