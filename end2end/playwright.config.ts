import { defineConfig } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// The server under test is the release build of `thor` (what users run), started here on its own
// port with a fresh data directory. THOR_BIN and THOR_SITE_ROOT come from scripts/test.
const root = path.resolve(__dirname, '..');
const port = Number(process.env.THOR_E2E_PORT ?? 3100);
const bin = process.env.THOR_BIN ?? path.join(root, 'target', 'release', 'thor');
const siteRoot = process.env.THOR_SITE_ROOT ?? path.join(root, 'target', 'site');
// Evaluated again in each worker: the directory is made once, in the runner, and handed down.
const dataDir = process.env.THOR_E2E_DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'thor-e2e-'));
process.env.THOR_E2E_DATA_DIR = dataDir;
process.env.THOR_E2E_BIN = bin;
process.env.THOR_E2E_SITE_ROOT = siteRoot;

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-dev-shm-usage',
      ],
    },
  },
  webServer: {
    command: `"${bin}" serve`,
    cwd: root,
    url: `http://127.0.0.1:${port}/api/health`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe',
    stderr: 'pipe',
    env: {
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: siteRoot,
      LEPTOS_ENV: 'PROD',
      THOR_DATA_DIR: dataDir,
      // The control plane's test switch, for the parity spec (never in production).
      THOR_ALLOW_FAULTS: 'true',
      RUST_LOG: 'warn',
    },
  },
});
