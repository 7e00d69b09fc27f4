import { test, expect, signIn } from './fixtures';

const sessionCookie = async (page: import('@playwright/test').Page) =>
  (await page.context().cookies()).find((cookie) => cookie.name === 'thor_session');

test('a signed-out visit to the dashboard lands on the sign-in form', async ({ page }) => {
  const sockets: string[] = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByTestId('sign-in-form')).toBeVisible();
  await expect(page.getByLabel('Username')).toBeVisible();
  await expect(page.getByLabel('Password')).toHaveAttribute('type', 'password');
  await expect(page.getByText('Server heartbeat')).toHaveCount(0);
  await expect(page.getByTestId('sign-out')).toHaveCount(0);
  await expect(page.getByTestId('sign-in-error')).toHaveCount(0);
  // Loaded and hydrated, and still no socket: only a signed-in dashboard opens one.
  await page.waitForLoadState('networkidle');
  expect(sockets).toEqual([]);
});

test('a wrong password shows the error and does not sign in', async ({ page }) => {
  await page.goto('/login');
  await page.getByLabel('Username').fill('demo');
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Sign in' }).click();

  // 303 back to the form (no 4xx: the fixture would fail on one), which says what went wrong.
  await expect(page).toHaveURL(/\/login\?error=1$/);
  await expect(page.getByTestId('sign-in-error')).toHaveText('Wrong username or password');
  await expect(page.getByTestId('sign-in-form')).toBeVisible();
  expect(await sessionCookie(page)).toBeUndefined();

  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByTestId('sign-in-error')).toHaveCount(0);

  // The right password still works afterwards.
  await signIn(page, 'demo2', 'demo2');
});

test('signing out returns to the sign-in form, and the dashboard needs signing in again', async ({
  signedIn: page,
}) => {
  await expect(page.getByTestId('signed-in-user')).toHaveText('demo');
  expect(await sessionCookie(page)).toBeDefined();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByTestId('sign-in-form')).toBeVisible();
  await expect(page.getByTestId('signed-in-user')).toHaveCount(0);
  expect(await sessionCookie(page)).toBeUndefined();

  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByText('Server heartbeat')).toHaveCount(0);
});

test('a signed-in visit to the sign-in form goes to the dashboard', async ({ signedIn: page }) => {
  await page.goto('/login');
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId('signed-in-user')).toHaveText('demo');
  await expect(page.getByTestId('connection-state')).toHaveText('Live');
});

test('the sign-in and sign-out forms work before any WebAssembly runs', async ({ page }) => {
  // The page's bundle loads but never hydrates: what is left is the server's HTML and its forms.
  // The bundle's script, by its hashed name (release builds) or its plain one.
  await page.route(/\/pkg\/thor(\.[\w-]+)?\.js$/, (route) =>
    route.fulfill({
      contentType: 'text/javascript',
      body: 'export default async () => {}; export const hydrate = () => {};',
    }),
  );
  // The WebAssembly the page preloads is never used: answered at once, so no preload is still in
  // flight (and aborted) when the form navigates.
  await page.route(/\/pkg\/thor(\.[\w-]+)?\.wasm$/, (route) =>
    route.fulfill({ contentType: 'application/wasm', body: Buffer.alloc(0) }),
  );
  await signIn(page, 'demo2', 'demo2');
  // The server-rendered dashboard, never hydrated: still waiting to connect.
  await expect(page.getByText('Server heartbeat')).toBeVisible();
  await expect(page.getByTestId('connection-state')).toHaveText('Connecting…');
  // The dashboard's stylesheet may still be in flight (nothing hydrates to wait for): signing out
  // now would abort it, which a trader would not notice but the fixture counts as a failure.
  await page.waitForLoadState('load');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  // The same for the sign-in form's stylesheet: the next navigation would abort it.
  await page.waitForLoadState('load');
  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);
});
