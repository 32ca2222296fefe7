// Two headless Chromium pages open the conference demo page (GET /conference/demo), join one
// room through the server's WebSocket signalling and connect to each other over WebRTC; a
// data-channel message must get through each way.
//
// Env: ROOMWIRE_SERVE_URL  base URL of a running `roomwire serve` (run.sh sets it)
//      CHROMIUM_PATH       Chromium binary (default /usr/bin/chromium)
//      ROOMWIRE_SCREENSHOTS  if set, a folder where screenshots are saved even on success
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = (process.env.ROOMWIRE_SERVE_URL || '').replace(/\/+$/, '');
const STEP_MS = 30_000; // bound for each wait below

const LAUNCH = {
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    // plain host candidates: the .local names of mDNS candidates do not resolve here
    '--disable-features=WebRtcHideLocalIpsWithMdns',
  ],
  timeout: STEP_MS,
};

/** Opens the demo page as `peer` in its own browser context; records console and errors. */
async function openPeer(browser, room, peer, name) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const diag = [];
  page.on('console', (m) => diag.push(`[console.${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => diag.push(`[pageerror] ${e.stack || e.message}`));
  page.on('websocket', (ws) => {
    diag.push(`[websocket] open ${ws.url()}`);
    ws.on('close', () => diag.push(`[websocket] closed ${ws.url()}`));
  });
  const url = `${BASE}/conference/demo?room=${room}&peer=${peer}&name=${encodeURIComponent(name)}`;
  const res = await page.goto(url);
  assert.equal(res?.status(), 200, `GET ${url}`);
  await page.waitForFunction(() => window.rw && window.rw.joined, null, { timeout: STEP_MS });
  return { peer, name, context, page, diag };
}

/** Waits until `who`'s connection to `other` is connected and its data channel open. */
function waitConnected(who, other) {
  return who.page.waitForFunction(
    (id) => window.rw.state[id] === 'connected' && window.rw.channels[id] === 'open',
    other.peer,
    { timeout: STEP_MS, polling: 100 },
  );
}

function waitReceived(who, text) {
  return who.page.waitForFunction((t) => window.rw.received.includes(t), text, {
    timeout: STEP_MS,
    polling: 100,
  });
}

async function saveArtifacts(peers, dir, label) {
  mkdirSync(dir, { recursive: true });
  for (const p of peers) {
    const base = join(dir, `${label}-${p.peer}`);
    try {
      await p.page.screenshot({ path: `${base}.png`, fullPage: true, timeout: 10_000 });
    } catch (e) {
      p.diag.push(`[test] screenshot failed: ${e.message}`);
    }
    let pageLog = [];
    try {
      pageLog = await p.page.evaluate(() => ({
        state: window.rw.state,
        channels: window.rw.channels,
        peers: window.rw.peers,
        received: window.rw.received,
        errors: window.rw.errors,
        log: window.rw.log,
      }));
    } catch (e) {
      pageLog = { unavailable: e.message };
    }
    writeFileSync(`${base}.txt`, `${JSON.stringify(pageLog, null, 2)}\n\n${p.diag.join('\n')}\n`);
    console.error(`saved ${base}.png and ${base}.txt`);
  }
}

test('two browsers connect over WebRTC through the conference signalling', { timeout: 120_000 }, async (t) => {
  assert.ok(BASE, 'ROOMWIRE_SERVE_URL is not set (run the test with tests/browser/run.sh)');
  const room = `browser-${randomBytes(6).toString('hex')}`;
  const browser = await chromium.launch(LAUNCH);
  t.after(() => browser.close());
  const peers = [];
  const started = Date.now();
  const mark = (what) => t.diagnostic(`${what} after ${Date.now() - started} ms`);
  try {
    // A first, so that B finds A in `peers` and makes the offer.
    const a = await openPeer(browser, room, 'peer_a', 'Alice');
    peers.push(a);
    const b = await openPeer(browser, room, 'peer_b', 'Bob');
    peers.push(b);
    mark('both joined');

    // The server's view, as the pages saw it.
    assert.deepEqual(await b.page.evaluate(() => window.rw.peers), { peer_a: 'Alice' });
    await a.page.waitForFunction(() => window.rw.peers.peer_b === 'Bob', null, { timeout: STEP_MS });

    await Promise.all([waitConnected(a, b), waitConnected(b, a)]);
    mark('WebRTC connected, data channels open');

    // a -> b through the page's API
    const hello = `hello from a ${randomBytes(4).toString('hex')}`;
    assert.equal(await a.page.evaluate((s) => window.rw.send(s), hello), 1);
    await waitReceived(b, hello);
    // b -> a through the page's form, as a person would
    const reply = `hi from b ${randomBytes(4).toString('hex')}`;
    await b.page.fill('#text', reply);
    await b.page.click('#sendBtn');
    await waitReceived(a, reply);
    mark('messages delivered both ways');

    // what a person sees
    await b.page.locator('#chat', { hasText: hello }).waitFor();
    await a.page.locator('#chat', { hasText: reply }).waitFor();
    assert.equal(await b.page.inputValue('#text'), '', 'the text box is cleared after sending');
    assert.deepEqual(await a.page.evaluate(() => window.rw.errors), []);
    assert.deepEqual(await b.page.evaluate(() => window.rw.errors), []);

    // Room chat through the server, sent the way the XSAMI frontend sends it (its own copy
    // shown at once, every chat-message received appended): each page shows each message once.
    const roomHello = `room hello ${randomBytes(4).toString('hex')}`;
    await a.page.fill('#roomText', roomHello);
    await a.page.click('#roomSendBtn');
    const roomReply = await b.page.evaluate(() => window.rw.chat('room reply from b'));
    for (const p of [a, b]) {
      await p.page.waitForFunction(
        (texts) => texts.every((t) => window.rw.roomChat.some((m) => m.message === t)),
        [roomHello, 'room reply from b'],
        { timeout: STEP_MS, polling: 100 },
      );
    }
    // b's reply went out after a's message arrived at the server, so an echo of a's message
    // would have reached a before b's reply: checking now is enough.
    for (const p of [a, b]) {
      const shown = await p.page.evaluate(() => window.rw.roomChat.map((m) => m.message));
      assert.deepEqual(shown.filter((t) => t === roomHello).length, 1, `${p.peer} shows "${roomHello}" once: ${JSON.stringify(shown)}`);
      assert.deepEqual(shown.filter((t) => t === 'room reply from b').length, 1, `${p.peer} shows the reply once: ${JSON.stringify(shown)}`);
      assert.equal(await p.page.locator('#roomChat div', { hasText: roomHello }).count(), 1, `${p.peer}: one line on screen`);
    }
    const bSaw = await b.page.evaluate(() => window.rw.roomChat);
    assert.equal(bSaw.find((m) => m.message === roomHello).username, 'Alice');
    assert.ok(roomReply.startsWith('msg_'));
    mark('room chat shown once on each page');

    if (process.env.ROOMWIRE_SCREENSHOTS) await saveArtifacts(peers, process.env.ROOMWIRE_SCREENSHOTS, 'ok');

    // B leaves (navigating away sends `leave`): A gets peer-left and drops the connection.
    await b.page.goto('about:blank');
    await a.page.waitForFunction(() => !('peer_b' in window.rw.peers) && !('peer_b' in window.rw.state), null, {
      timeout: STEP_MS,
    });
    mark('peer-left handled');
  } catch (err) {
    const dir = mkdtempSync(join(tmpdir(), 'roomwire-browser-'));
    console.error(`test failed; screenshots and page logs in ${dir}`);
    await saveArtifacts(peers, dir, 'failure');
    throw err;
  }
});
