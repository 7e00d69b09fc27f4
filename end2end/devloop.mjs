// The development loop's save-to-screen time, as an engineer meets it: with `cargo leptos watch`
// serving at THOR_DEVLOOP_URL, the dashboard open in Chromium (signed in as demo), a word in a
// component (the chart's legend) is changed RUNS times; each run is timed from the file's save
// to the open page showing the new word (cargo-leptos rebuilds the server and the bundle, then
// reloads the page). The file is put back afterwards. Run by scripts/devloop.
import { chromium } from '@playwright/test';
import * as fs from 'node:fs';

const base = process.env.THOR_DEVLOOP_URL ?? 'http://127.0.0.1:3000';
const file = process.argv[2];
const runs = Number(process.argv[3] ?? 3);
const original = fs.readFileSync(file, 'utf8');
const word = '"Session VWAP"';
if (!original.includes(word)) throw new Error(`${file} has no ${word} to change`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const page = await browser.newPage();
await page.goto(`${base}/login`);
await page.getByLabel('Username').fill('demo');
await page.getByLabel('Password').fill('demo');
await page.getByRole('button', { name: 'Sign in' }).click();
await page.waitForURL(/\/$/);

/// Milliseconds from now until the page's legend says `text` (across the reload).
async function until(text, limitMs) {
  const start = performance.now();
  while (performance.now() - start < limitMs) {
    try {
      const shown = await page.locator('.legend').textContent({ timeout: 200 });
      if (shown?.includes(text)) return performance.now() - start;
    } catch {
      // The page is reloading.
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the page did not show ${text} within ${limitMs} ms`);
}

const times = [];
try {
  await until('Session VWAP', 60_000);
  for (let i = 1; i <= runs; i++) {
    const marker = `Session VWAP ${Date.now() % 100_000}`;
    // Hydrated and quiet before the next save.
    await page.waitForTimeout(3_000);
    fs.writeFileSync(file, original.replace(word, `"${marker}"`));
    const ms = await until(marker, 120_000);
    times.push(ms);
    console.log(`run ${i}: ${(ms / 1000).toFixed(2)} s from the save to the page showing it`);
  }
} finally {
  fs.writeFileSync(file, original);
  await browser.close();
}
const sorted = [...times].sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)];
console.log(
  `save to screen: median ${(median / 1000).toFixed(2)} s, min ${(sorted[0] / 1000).toFixed(2)} s, max ${(sorted[sorted.length - 1] / 1000).toFixed(2)} s over ${times.length} runs`,
);
