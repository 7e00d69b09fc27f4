import { test, expect, signIn, thor } from './fixtures';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

// Issue 12's path from the CLI to the page: a trader added with `thor users add`, given an
// account from a file with `thor accounts import`, signs in and sees their own positions.
test('a trader added with thor users and an imported account sees their own positions on the page', async ({
  page,
  playwright,
  baseURL,
}) => {
  test.setTimeout(60_000);
  const password = 'e2e-alice-passphrase';
  thor(['users', 'add', 'alice', '--role', 'trader'], { input: `${password}\n` });
  thor(['users', 'add', 'bob', '--role', 'trader'], { input: 'e2e-bob-passphrase\n' });
  thor(['accounts', 'import', path.join(root, 'docs', 'accounts.example.toml')]);

  // The server values the new accounts in its next account round (every 10 s).
  const alice = await playwright.request.newContext({ baseURL });
  try {
    expect((await alice.post('/api/auth/login', { data: { username: 'alice', password } })).status()).toBe(200);
    await expect
      .poll(async () => (await alice.get('/api/positions')).status(), { timeout: 25_000, intervals: [1_000] })
      .toBe(200);
  } finally {
    await alice.dispose();
  }

  await signIn(page, 'alice', password);
  await expect(page.getByTestId('account-number')).toHaveText('DESK-0001');
  const rows = page.getByTestId('position-row');
  await expect(rows).toHaveCount(2);
  await expect(page.locator('[data-testid="position-row"][data-symbol="SPY"] td').first()).toHaveText('100');
  await expect(page.locator('[data-testid="position-row"][data-symbol="AAPL"] td').first()).toHaveText('50');
  await expect(page.locator('[data-testid="position-row"][data-symbol="QQQ"]')).toHaveCount(0);
});
