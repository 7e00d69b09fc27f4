import base from './playwright.config';
import { defineConfig } from '@playwright/test';

// Not a test: takes the README's screenshots of the dashboard, wide and narrow, against the same
// release build and server set-up as the end-to-end tests.
//   cd end2end && npx playwright test -c screenshots.config.ts
export default defineConfig({ ...base, testDir: './screenshots' });
