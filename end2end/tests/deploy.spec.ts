import { test as base, expect, type Page } from '@playwright/test';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { signIn } from './fixtures';
import { OwnServer } from './own-server';

// A deploy under open pages: the server restarts on another build, and each page, told by the
// socket's first message (`hello`), reloads itself into the new build at a quiet moment, never
// while its user is typing; nothing it showed is lost or doubled.
//
// Build A is the release site under test. Build B is that site with a changed stylesheet under its
// new hashed name and a hash file of its own: a deploy that changed only the CSS, which is all a
// page can tell apart (a second WebAssembly build would take minutes for the same check).
const siteA = process.env.THOR_E2E_SITE_ROOT ?? '';
const hashFileA = path.join(path.dirname(process.env.THOR_E2E_BIN ?? ''), 'hash.txt');

function makeBuildB(): { site: string; hashFile: string; css: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thor-e2e-build-b-'));
  const site = path.join(dir, 'site');
  fs.cpSync(siteA, site, { recursive: true });
  const hashes = fs.readFileSync(hashFileA, 'utf8');
  const oldCss = /^css:\s*(\S+)$/m.exec(hashes)?.[1];
  if (!oldCss) throw new Error(`no css hash in ${hashFileA}`);
  const pkg = path.join(site, 'pkg');
  const oldName = path.join(pkg, `thor.${oldCss}.css`);
  const css = `${fs.readFileSync(oldName, 'utf8')}\n/* build B */ .build-b { display: none; }\n`;
  const newCss = createHash('sha256').update(css).digest('hex').slice(0, oldCss.length);
  for (const name of fs.readdirSync(pkg)) {
    if (name.startsWith(`thor.${oldCss}.css`)) fs.rmSync(path.join(pkg, name));
  }
  fs.writeFileSync(path.join(pkg, `thor.${newCss}.css`), css);
  const hashFile = path.join(dir, 'hash.txt');
  fs.writeFileSync(hashFile, hashes.replace(oldCss, newCss));
  return { site, hashFile, css: newCss };
}

const port = Number(process.env.THOR_E2E_DEPLOY_PORT ?? 3105);
const a = new OwnServer(port);
const test = base.extend<{ server: OwnServer }>({
  server: async ({}, use) => {
    await a.start();
    await use(a);
    await a.stop();
  },
});
test.use({ baseURL: a.origin });

const buildOf = (page: Page) => page.locator('meta[name="thor-build"]').getAttribute('content');

test('a page open on build A reloads into build B after a deploy, never mid-edit, and loses nothing', async ({
  browser,
  server,
}) => {
  test.setTimeout(150_000);
  const traderContext = await browser.newContext();
  const opsContext = await browser.newContext();
  const problems: string[] = [];
  try {
    const trader = await traderContext.newPage();
    const ops = await opsContext.newPage();
    let restarting = false;
    for (const page of [trader, ops]) {
      page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
      page.on('console', (m) => {
        const quiet = restarting && /ERR_CONNECTION_REFUSED|WebSocket connection to|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET/.test(m.text());
        if (m.type() === 'error' && !quiet) problems.push(`console: ${m.text()}`);
      });
    }
    const loads = { trader: 0, ops: 0 };
    trader.on('load', () => (loads.trader += 1));
    ops.on('load', () => (loads.ops += 1));
    // The builds the socket announces, as the pages receive them.
    const announced: string[] = [];
    ops.on('websocket', (ws) =>
      ws.on('framereceived', (frame) => {
        const text = String(frame.payload);
        if (text.startsWith('{"type":"hello"')) announced.push(JSON.parse(text).data.build);
      }),
    );

    await signIn(trader, 'demo', 'demo');
    await signIn(ops, 'ops', 'ops');
    for (const page of [trader, ops]) await expect(page.getByTestId('topbar-connection')).toHaveText('Live');
    const buildA = await buildOf(trader);
    expect(buildA, 'the page names its build').toMatch(/^\S+\.\S+\.\S+$/);
    await expect.poll(() => announced).toEqual([buildA]);

    // What the trader's page shows before the deploy: the chart's closed bars and the positions.
    const closed = () =>
      trader
        .locator('[data-testid="chart"] .candle:not(.forming)')
        .evaluateAll((gs) => gs.map((g) => Number(g.getAttribute('data-minute'))));
    const holdings = () =>
      trader.getByTestId('position-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-symbol')));
    await expect.poll(async () => (await closed()).length, { timeout: 75_000, intervals: [1_000] }).toBeGreaterThan(0);
    const barsBefore = await closed();
    const holdingsBefore = await holdings();
    expect(holdingsBefore.length).toBeGreaterThan(0);

    // The operator is typing a reason when the deploy lands.
    const reason = ops.getByTestId('control-reason');
    await reason.click();
    await reason.pressSequentially('half-typed');
    const [traderLoads, opsLoads] = [loads.trader, loads.ops];

    const b = makeBuildB();
    restarting = true;
    await server.stop();
    // The same port and data directory: a deploy keeps the address and the database.
    const serverB = new OwnServer(port, { LEPTOS_SITE_ROOT: b.site, LEPTOS_HASH_FILE_NAME: b.hashFile }, a.dataDir);
    await serverB.start();
    try {
      // The trader's page reloads into build B on its own.
      await expect.poll(() => loads.trader, { timeout: 30_000 }).toBeGreaterThan(traderLoads);
      await expect(trader.getByTestId('topbar-connection')).toHaveText('Live', { timeout: 15_000 });
      const buildB = await buildOf(trader);
      expect(buildB).not.toBe(buildA);
      expect(buildB).toContain(b.css);
      expect(await trader.locator('link[rel="stylesheet"]').first().getAttribute('href')).toContain(b.css);

      // The operator's page has heard of build B but waits while the reason has the focus: the
      // page clock has ticked twice since (the market countdown), and no reload came.
      await expect.poll(() => announced.at(-1), { timeout: 30_000 }).toBe(buildB);
      const countdown = ops.getByTestId('countdown-XNYS');
      for (let tick = 0; tick < 2; tick++) {
        const shown = await countdown.textContent();
        await expect.poll(() => countdown.textContent(), { timeout: 5_000 }).not.toBe(shown);
      }
      expect(loads.ops, 'reloaded under the operator’s typing').toBe(opsLoads);
      await expect(reason).toHaveValue('half-typed');
      // Out of the field: the page reloads into build B.
      await reason.blur();
      await expect.poll(() => loads.ops, { timeout: 5_000 }).toBeGreaterThan(opsLoads);
      await expect.poll(() => buildOf(ops), { timeout: 10_000 }).toBe(buildB);
      await expect(ops.getByTestId('topbar-connection')).toHaveText('Live');
      // From here on, nothing is expected to fail (the reports of the restart were delivered).
      restarting = false;

      // Nothing the trader's page showed is lost or doubled: every bar from before is still on
      // the chart, once, and the same holdings, once each.
      await expect.poll(async () => (await closed()).length, { timeout: 15_000 }).toBeGreaterThan(0);
      const barsAfter = await closed();
      expect(barsBefore.filter((m) => !barsAfter.includes(m)), 'bars lost in the reload').toEqual([]);
      expect(barsAfter.length, 'bars doubled').toBe(new Set(barsAfter).size);
      expect((await holdings()).sort()).toEqual([...holdingsBefore].sort());
    } finally {
      // The pages are still open: what they log of the server going away is expected.
      restarting = true;
      await serverB.stop();
    }
  } finally {
    await traderContext.close();
    await opsContext.close();
  }
  expect(problems).toEqual([]);
});
