import { test, expect } from './fixtures';

test('the page is served rendered, then hydrates and shows live heartbeats', async ({ page, request }) => {
  // Before any JavaScript: the server's HTML already holds the panel, waiting to connect.
  const html = await (await request.get('/')).text();
  expect(html).toContain('Server heartbeat');
  expect(html).toContain('Connecting…');

  await page.goto('/');
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
  await page.goto('/');
  await expect(page.getByTestId('connection-state')).toHaveText('Live');
  await expect(page.getByTestId('heartbeat-seq')).toHaveText(/^\d+$/);
  expect(sockets.filter((url) => url.endsWith('/ws'))).toHaveLength(1);
});

test('health reports the embedded defaults', async ({ request }) => {
  const response = await request.get('/api/health');
  expect(response.status()).toBe(200);
  const health = await response.json();
  expect(health.status).toBe('ok');
  expect(health.database.backend).toBe('sqlite');
  expect(health.hub.backend).toBe('in-process');
});
