import { test, expect, signIn } from './fixtures';

test('the page is served rendered, then hydrates and shows live heartbeats', async ({ signedIn: page }) => {
  // Before any JavaScript: the server's HTML (fetched with this browser's session cookie) already
  // holds the panel, waiting to connect, and names the user.
  const response = await page.request.get('/');
  expect(response.status()).toBe(200);
  const html = await response.text();
  expect(html).toContain('Server heartbeat');
  expect(html).toContain('Connecting…');
  expect(html).toMatch(/data-testid="signed-in-user"[^>]*>demo</);

  await expect(page).toHaveTitle('Thor');

  // Only the hydrated page opens the socket, so "Live" proves hydration worked.
  const state = page.getByTestId('connection-state');
  await expect(state).toHaveText('Live');
  await expect(page.getByTestId('topbar-connection')).toHaveText('Live');

  // Heartbeats keep arriving: the sequence number moves on by itself.
  const seq = page.getByTestId('heartbeat-seq');
  await expect(seq).toHaveText(/^\d+$/);
  const first = Number(await seq.textContent());
  await expect.poll(async () => Number(await seq.textContent())).toBeGreaterThan(first);
  await expect(page.getByTestId('heartbeat-age')).toHaveText(/^\d+\.\d s ago$/);
  await expect(page.getByTestId('server-connections')).toHaveText(/^[1-9]\d*$/);
});

test('the page opens exactly one WebSocket', async ({ page }) => {
  const sockets: string[] = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  // Counted from the sign-in page on: it opens none, the dashboard one.
  await signIn(page);
  await expect(page.getByTestId('connection-state')).toHaveText('Live');
  await expect(page.getByTestId('heartbeat-seq')).toHaveText(/^\d+$/);
  expect(sockets.filter((url) => new URL(url).pathname === '/ws')).toHaveLength(1);
  // It asks for the charted symbol's bars, and has nothing to resume.
  expect(new URL(sockets[0]).search, 'a first connection has nothing to resume').toBe('?symbols=SPY');
});

test('health reports the embedded defaults', async ({ request }) => {
  const response = await request.get('/api/health');
  expect(response.status()).toBe(200);
  const health = await response.json();
  expect(health.status).toBe('ok');
  expect(health.database.backend).toBe('sqlite');
  expect(health.hub.backend).toBe('in-process');
});
