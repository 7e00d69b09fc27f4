import { test, expect, signIn } from './fixtures';
import type { WebSocketRoute } from '@playwright/test';

// The page's socket, passed through Playwright so a test can close it the way the server would.
test('a socket closed for falling behind (4008) comes back at once and resumes where it left off', async ({
  page,
}) => {
  const sockets: WebSocketRoute[] = [];
  await page.routeWebSocket(
    (url) => url.pathname === '/ws',
    (ws) => {
      sockets.push(ws);
      ws.connectToServer();
    },
  );
  const logs: string[] = [];
  page.on('console', (message) => logs.push(message.text()));

  await signIn(page);
  const seq = page.getByTestId('heartbeat-seq');
  await expect(page.getByTestId('connection-state')).toHaveText('Live');
  await expect(seq).toHaveText(/^\d+$/);
  const seen = Number(await seq.textContent());
  expect(sockets).toHaveLength(1);
  // A first connection asks for the charted symbol, and has nothing to resume.
  expect(new URL(sockets[0].url()).search).toBe('?symbols=SPY');

  await sockets[0].close({ code: 4008, reason: 'you fell behind' });
  await expect.poll(() => sockets.length, { timeout: 2_000 }).toBe(2);

  // The reconnect names the epoch and at least the heartbeat it had seen.
  const resumed = new URL(sockets[1].url());
  expect(resumed.pathname).toBe('/ws');
  expect(resumed.searchParams.get('symbols')).toBe('SPY');
  expect(resumed.searchParams.get('epoch')).toMatch(/^\d+$/);
  const since = resumed.searchParams.get('since') ?? '';
  const heartbeat = since.split(',').find((part) => part.startsWith('heartbeat:'));
  expect(Number(heartbeat?.split(':')[1])).toBeGreaterThanOrEqual(seen);

  await expect(page.getByTestId('connection-state')).toHaveText('Live');
  await expect.poll(async () => Number(await seq.textContent())).toBeGreaterThan(seen);
  // The server's answer to the resume is logged (as information, never as an error).
  await expect.poll(() => logs.some((line) => line.startsWith('[WS] resumed epoch'))).toBe(true);
});
