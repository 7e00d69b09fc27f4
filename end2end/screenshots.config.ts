import base from './playwright.config';
import { defineConfig } from '@playwright/test';

// Not a test: takes the README's screenshots of the dashboard, wide and narrow, against the
// release build. By default it starts its own server as the end-to-end tests do (the chart then
// has only the minutes since); THOR_SHOTS_URL points it at a server that has run for a while.
//   cd end2end && npx playwright test -c screenshots.config.ts
//   THOR_SHOTS_URL=http://127.0.0.1:3200 npx playwright test -c screenshots.config.ts
const url = process.env.THOR_SHOTS_URL;
export default defineConfig({
  ...base,
  testDir: './screenshots',
  use: { ...base.use, baseURL: url ?? base.use?.baseURL },
  webServer: url ? undefined : base.webServer,
});
