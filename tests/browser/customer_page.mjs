#!/usr/bin/env node
// The customer page driven in headless Chromium as a user would.
//
// Starts the real `rfq up` on free ports in a fresh data directory (as
// tests/smoke/outside_client.py does), opens the page its banner names in
// Debian's Chromium (/usr/bin/chromium, never a downloaded browser) through
// playwright-core, and:
//   1. submits a pickup latitude out of range: the server's problem
//      document is shown and the culprit field marked;
//   2. clicks demo spots, sets a deadline and the "deadline" completion
//      rule, submits; at least one quote must appear while the RFQ still
//      runs (the status and the countdown are recorded at the moment the
//      first quote row is added), then the final list: cheapest first, as
//      the API's result, the silent provider listed as unanswered;
//   3. submits an RFQ whose deadline passes before any provider answers:
//      no quote in time; once the answers are in, "Look again for late
//      answers" lists each of them marked late;
//   4. saves screenshots (live, final, late) and prints their paths;
//   5. stops `rfq up` with SIGINT and expects a clean exit.
// Every wait is on an event, a selector or a page condition, never a fixed
// sleep. Exits non-zero on any failure, printing rfq up's output.
//
// Usage: node customer_page.mjs [PATH_TO_RFQ] [SCREENSHOT_DIR]
//   (defaults: $CARGO_TARGET_DIR or target, /debug/rfq; <that target>/browser)
// RFQ_CHROMIUM overrides the browser's path.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const targetDir = path.resolve(repo, process.env.CARGO_TARGET_DIR || 'target');
const binary = path.resolve(process.argv[2] || path.join(targetDir, 'debug', 'rfq'));
const shotDir = path.resolve(process.argv[3] || path.join(targetDir, 'browser'));
const chromiumPath = process.env.RFQ_CHROMIUM || '/usr/bin/chromium';

// The demo fleet: 6 unicorns per region (the regions within the radius of
// the pickup are asked), one of them silent, the others
// answering 1.5–4 s after an RFQ (so quotes trickle in), some declining.
const FLEET = ['--fleet-per-region', '6', '--fleet-silent-per-region', '1',
  '--fleet-latency-min-ms', '1500', '--fleet-latency-max-ms', '4000', '--fleet-decline-rate', '0.15'];
// Every answer comes in time for this one…
const DEADLINE_SECONDS = 12;
// …and none for this one: every answer is late.
const SHORT_DEADLINE_SECONDS = 1;

function ok(message) {
  console.log(`ok: ${message}`);
}

class Failed extends Error {}

function check(condition, message) {
  if (!condition) throw new Failed(message);
  ok(message);
}

/** Polls `probe` until it returns something, at most `within` ms. */
async function waitFor(probe, within, what) {
  const giveUp = Date.now() + within;
  for (;;) {
    const found = await probe();
    if (found) return found;
    if (Date.now() > giveUp) throw new Failed(`not within ${within / 1000} s: ${what}`);
    await new Promise((resolve) => { setTimeout(resolve, 200); });
  }
}

async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/** `rfq up` on free ports; resolves once its banner says it is up. */
async function startRfqUp(dataDir) {
  const [httpPort, kafkaPort] = [await freePort(), await freePort()];
  const child = spawn(binary, ['up', '--http-addr', `127.0.0.1:${httpPort}`,
    '--kafka-addr', `127.0.0.1:${kafkaPort}`, '--data-dir', dataDir,
    '--schema-registry-addr', '127.0.0.1:0', ...FLEET], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  const rfq = { child, output: '', exited: null };
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', (text) => { rfq.output += text; child.emit('output'); });
  }
  child.on('exit', (code, signal) => { rfq.exited = { code, signal }; child.emit('output'); });
  child.on('error', (error) => { rfq.output += `\n${error}`; rfq.exited = { code: -1 }; child.emit('output'); });
  // The banner names the page: that line is what a user would open.
  const pageUrl = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Failed('rfq up did not come up within 180 s')), 180_000);
    const look = () => {
      // A whole line: the output arrives in chunks.
      const match = /Customer page:\s+(http:\/\/\S+)[^\n]*\n/.exec(rfq.output);
      if (match && rfq.output.includes('RFQ pipeline up.')) {
        clearTimeout(timer);
        child.off('output', look);
        resolve(match[1]);
      } else if (rfq.exited) {
        clearTimeout(timer);
        reject(new Failed(`rfq up exited early: ${JSON.stringify(rfq.exited)}`));
      }
    };
    child.on('output', look);
    look();
  });
  rfq.pageUrl = pageUrl;
  check(pageUrl.startsWith(`http://127.0.0.1:${httpPort}/?key=`),
    `rfq up's banner names the page, with the demo API key: ${pageUrl.replace(/key=.*/, 'key=…')}`);
  rfq.key = new URL(pageUrl).searchParams.get('key');
  return rfq;
}

/** SIGINT, then a clean exit within 60 s. */
async function stopRfqUp(rfq) {
  if (!rfq.exited) {
    rfq.child.kill('SIGINT');
    const timer = setTimeout(() => rfq.child.kill('SIGKILL'), 60_000);
    if (!rfq.exited) await once(rfq.child, 'exit');
    clearTimeout(timer);
  }
  check(rfq.exited.code === 0, `rfq up exits 0 on Ctrl-C (got ${JSON.stringify(rfq.exited)})`);
  check(rfq.output.includes('RFQ pipeline stopped.'), 'rfq up reports a clean stop');
}

async function launchChromium(profileDir) {
  // Flags that work on a closed network (no background connections, no
  // component updates); a fresh, empty profile.
  return chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
    locale: 'en-GB',
    timezoneId: 'Europe/Berlin',
  });
}

async function drive(page, rfq, shots) {
  const problems = [];
  page.on('console', (message) => {
    // Chromium logs every 4xx as a console error: the 401 and the 422 we provoke are expected.
    const expected = /status of (422 \(Unprocessable Entity\)|401 \(Unauthorized\))/.test(message.text());
    if ((message.type() === 'error' || message.type() === 'warning') && !expected) {
      problems.push(`console ${message.type()}: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    // The page closes its event stream itself; an aborted stream is no failure.
    if (!new URL(request.url()).pathname.endsWith('/events')) problems.push(`request failed: ${new URL(request.url()).pathname} ${request.failure()?.errorText}`);
  });

  const response = await page.goto(rfq.pageUrl);
  check(response.status() === 200, 'GET / answers 200');
  check((response.headers()['content-security-policy'] || '').includes("default-src 'self'"),
    'the page comes with a Content-Security-Policy of its own origin');
  await page.waitForSelector('body[data-ready="true"]');
  check(await page.title() === 'Ride quotes · rfq', 'the page is the customer page');

  // 0. A wrong API key: the 401 shown, the key field marked.
  check(await page.locator('#api-key').inputValue() === rfq.key, 'the page takes the key from its address');
  await page.getByTestId('from-spot-alexanderplatz').click();
  await page.getByTestId('to-spot-potsdamer-platz').click();
  await page.getByLabel('API key').fill('not-the-key-0123456789');
  await page.getByTestId('submit').click();
  await page.getByTestId('error').waitFor({ state: 'visible' });
  const unauthorized = await page.getByTestId('error').innerText();
  check(/\(401\)/.test(unauthorized), `a wrong key shows the 401: ${JSON.stringify(unauthorized)}`);
  check(await page.locator('#api-key').getAttribute('aria-invalid') === 'true', 'the key field is marked invalid');
  await page.getByLabel('API key').fill(rfq.key);

  // 1. A latitude out of range: the server's problem shown, the field marked.
  await page.getByRole('group', { name: 'Pickup' }).getByLabel('Latitude').fill('95');
  await page.getByTestId('submit').click();
  const error = page.getByTestId('error');
  await error.waitFor({ state: 'visible' });
  const errorText = await error.innerText();
  check(/Invalid RFQ \(422\)/.test(errorText) && errorText.includes('from'),
    `a rejected RFQ shows the problem document: ${JSON.stringify(errorText)}`);
  check(await page.locator('#from-lat').getAttribute('aria-invalid') === 'true',
    'the culprit field is marked invalid');
  check(await page.getByTestId('status').getAttribute('data-state') === 'error', 'the status says error');

  // 2. The RFQ as a user fills it: demo spots, deadline, rule, who asks.
  await page.getByTestId('from-spot-alexanderplatz').click();
  check(await page.locator('#from-lat').inputValue() === '52.5219', 'a demo spot fills the pickup');
  await page.getByLabel('Deadline, in seconds').fill(String(DEADLINE_SECONDS));
  await page.getByLabel('Completion rule').selectOption('deadline');
  // Record what the page says when the first quote row appears: the
  // observer runs right after the DOM change, before any later event.
  await page.evaluate(() => {
    const body = document.getElementById('live-quotes-body');
    const observer = new MutationObserver(() => {
      if (window.firstQuote || !body.querySelector('[data-testid="live-quote"]')) return;
      window.firstQuote = {
        state: document.getElementById('status').dataset.state,
        status: document.getElementById('status').textContent,
        secondsLeft: Number(document.getElementById('countdown').dataset.secondsLeft),
        countdown: document.getElementById('countdown').textContent,
        resultShown: !document.getElementById('result').hidden,
      };
      observer.disconnect();
    });
    observer.observe(body, { childList: true });
  });
  const submitted = Date.now();
  await page.getByTestId('submit').click();
  await page.waitForSelector('[data-testid="status"][data-state="running"]');
  check(await error.isHidden(), 'the earlier error is gone');
  await page.waitForFunction(() => window.firstQuote, null, { timeout: (DEADLINE_SECONDS + 10) * 1000 });
  const first = await page.evaluate(() => window.firstQuote);
  check(first.state === 'running' && !first.resultShown && first.secondsLeft > 0,
    `a quote appeared live, before the close: ${JSON.stringify(first)}`);
  check(/Closes in \d+ s/.test(first.countdown), `the countdown runs: ${first.countdown}`);
  shots.live = path.join(shotDir, 'customer-page-live.png');
  await page.screenshot({ path: shots.live, fullPage: true });

  // The close: the final list.
  await page.waitForSelector('[data-testid="status"][data-state="closed"]',
    { timeout: (DEADLINE_SECONDS + 30) * 1000 });
  const closedAfter = (Date.now() - submitted) / 1000;
  check(closedAfter >= DEADLINE_SECONDS - 1,
    `the RFQ closed at its deadline (${closedAfter.toFixed(1)} s after submitting)`);
  const finalQuotes = await page.getByTestId('final-quote').evaluateAll((rows) =>
    rows.map((row) => ({ provider: row.dataset.provider, price: row.dataset.price })));
  check(finalQuotes.length >= 1, `the final list has ${finalQuotes.length} quotes`);
  const prices = finalQuotes.map((q) => Number(q.price));
  check(prices.every((price, i) => i === 0 || prices[i - 1] <= price),
    `the final list is cheapest first: ${prices.join(' ≤ ')}`);
  const liveCount = await page.getByTestId('live-quote').count();
  check(liveCount === finalQuotes.length, `every quote seen live is in the final list (${liveCount})`);
  const summary = await page.getByTestId('result-summary').innerText();
  check(summary.includes('the deadline passed'), `the summary says why it closed: ${summary}`);
  const unanswered = await page.getByTestId('final-unanswered-provider').allInnerTexts();
  check(unanswered.length >= 1, `the silent provider is listed as unanswered: ${unanswered.join(', ')}`);

  // The page shows what the API holds.
  const resultHref = await page.getByTestId('result-link').getAttribute('href');
  const result = await (await fetch(new URL(resultHref, rfq.pageUrl), { headers: { authorization: `Bearer ${rfq.key}` } })).json();
  check(JSON.stringify(result.quotes.map((q) => q.provider)) === JSON.stringify(finalQuotes.map((q) => q.provider)),
    'the final list is the result\'s quotes, in its order');
  const declines = await page.getByTestId('final-decline').count();
  const late = await page.getByTestId('final-late-answer').count();
  check(declines === result.declines.length && late === result.late.length
    && unanswered.length === result.unanswered.length,
  `declines (${declines}), late answers (${late}) and unanswered (${unanswered.length}) as the result`);
  check(finalQuotes.length + declines + unanswered.length === result['providers-addressed'],
    `every one of the ${result['providers-addressed']} providers addressed is shown once`);

  shots.final = path.join(shotDir, 'customer-page.png');
  await page.screenshot({ path: shots.final, fullPage: true });

  // 3. A deadline before any answer: nothing in time, every answer late.
  await page.getByLabel('Deadline, in seconds').fill(String(SHORT_DEADLINE_SECONDS));
  await page.getByTestId('submit').click();
  await page.waitForSelector('[data-testid="result"]:not([hidden])', { timeout: 30_000 });
  await page.waitForSelector('[data-testid="status"][data-state="closed"]');
  check(await page.locator('#final-none').isVisible(), 'an RFQ without a quote in time says so');
  const shortHref = await page.getByTestId('result-link').getAttribute('href');
  check(shortHref !== resultHref, 'the page follows the new RFQ');
  // Wait (on the API, as a user would wait) until every provider's late answer is stored.
  // Every unicorn but the silent ones answers (in the 12 s RFQ, all in
  // time: its unanswered are the silent ones, one per region near).
  const answering = result['providers-addressed'] - result.unanswered.length;
  const shortResult = await waitFor(async () => {
    const late = await (await fetch(new URL(shortHref, rfq.pageUrl), { headers: { authorization: `Bearer ${rfq.key}` } })).json();
    return late.late.length === answering ? late : null;
  }, 30_000, `${answering} late answers stored`);
  await page.getByTestId('refresh-result').click();
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="final-late-answer"]').length === n, answering);
  const lateItems = await page.getByTestId('final-late-answer').allInnerTexts();
  check(lateItems.every((text) => text.startsWith('late ')),
    `each late answer is marked late: ${JSON.stringify(lateItems[0])}`);
  check(JSON.stringify(await page.getByTestId('final-late-answer').evaluateAll((items) => items.map((i) => i.dataset.provider)))
    === JSON.stringify(shortResult.late.map((answer) => answer.provider)), 'the late answers are the result\'s');
  check(await page.getByTestId('final-quote').count() === 0
    && await page.getByTestId('final-unanswered-provider').count() === shortResult['providers-addressed'],
  'late answers change nothing: no quote, every provider unanswered');
  shots.late = path.join(shotDir, 'customer-page-late.png');
  await page.screenshot({ path: shots.late, fullPage: true });
  check(problems.length === 0, `no console error, page error or failed request${problems.length ? `: ${problems.join('; ')}` : ''}`);
}

async function main() {
  if (!fs.existsSync(binary) || !fs.existsSync(chromiumPath)) {
    console.error(`FAILED: needs the rfq binary (${binary}) and Chromium (${chromiumPath})`);
    process.exit(1);
  }
  fs.mkdirSync(shotDir, { recursive: true });
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'rfq-browser-'));
  let rfq = null;
  let browser = null;
  const shots = {};
  let failure = null;
  try {
    rfq = await startRfqUp(path.join(scratch, 'data'));
    browser = await launchChromium(path.join(scratch, 'chromium-profile'));
    const page = browser.pages()[0] || await browser.newPage();
    page.setDefaultTimeout(30_000);
    await drive(page, rfq, shots);
  } catch (error) {
    failure = error;
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (rfq) {
      try {
        await stopRfqUp(rfq);
      } catch (error) {
        failure = failure || error;
      }
    }
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  for (const [name, file] of Object.entries(shots)) console.log(`screenshot (${name}): ${file}`);
  if (failure) {
    console.error(`FAILED: ${failure instanceof Failed ? failure.message : failure.stack || failure}`);
    if (rfq) console.error(`--- rfq up's output ---\n${rfq.output.slice(-6000)}`);
    process.exit(1);
  }
  console.log('browser: every check passed');
}

main();
