import { expect } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/// A server of a spec's own: the release build on its own port, with a fresh data directory and
/// the settings the spec gives (as `THOR_*` variables), so the spec can restart it under an open
/// page, or start from nothing, without disturbing the other specs' server.
export class OwnServer {
  readonly origin: string;
  readonly dataDir: string;
  private process: ChildProcess | undefined;

  /// `dataDir`: another server's, to start where it stopped (a deploy keeps the database).
  constructor(
    readonly port: number,
    private readonly env: Record<string, string> = {},
    dataDir?: string,
  ) {
    this.origin = `http://127.0.0.1:${port}`;
    this.dataDir = dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `thor-e2e-${port}-`));
  }

  /// Starts the server and waits until it answers `/api/health`.
  async start() {
    const bin = process.env.THOR_E2E_BIN;
    if (!bin) throw new Error('THOR_E2E_BIN comes from playwright.config.ts');
    this.process = spawn(bin, ['serve'], {
      env: {
        ...process.env,
        LEPTOS_SITE_ADDR: `127.0.0.1:${this.port}`,
        LEPTOS_SITE_ROOT: process.env.THOR_E2E_SITE_ROOT,
        LEPTOS_ENV: 'PROD',
        THOR_DATA_DIR: this.dataDir,
        RUST_LOG: 'warn',
        ...this.env,
      },
      stdio: 'ignore',
    });
    await expect
      .poll(
        async () => {
          try {
            return (await fetch(`${this.origin}/api/health`)).status;
          } catch {
            return 0;
          }
        },
        { timeout: 30_000, intervals: [200] },
      )
      .toBe(200);
  }

  /// Stops the server (SIGTERM, as a deploy would) and waits for it to exit.
  async stop() {
    const server = this.process;
    this.process = undefined;
    if (!server || server.exitCode !== null) return;
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
}
