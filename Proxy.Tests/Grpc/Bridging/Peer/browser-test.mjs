// Loads the test page in headless Chromium (Debian's /usr/bin/chromium, nothing downloaded) and prints
// window.results as JSON. Usage: node browser-test.mjs <page-url> [chromium-path]
import { chromium } from 'playwright-core';

const [pageUrl, executablePath = '/usr/bin/chromium'] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage();
  const console_ = [];
  page.on('console', (m) => console_.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console_.push(`pageerror: ${e.message}`));
  await page.goto(pageUrl);
  await page.waitForFunction(() => window.results !== undefined, null, { timeout: 60000 });
  const results = await page.evaluate(() => window.results);
  process.stdout.write(JSON.stringify({ results, console: console_ }));
} finally {
  await browser.close();
}
