// Plain WebSocket echo at /ws/echo: every text and binary message comes back
// unchanged, with the same frame type, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openWs, waitClose, until, TEST_TIMEOUT } from './helpers.js';

test('/ws/echo echoes a text message as text', { timeout: TEST_TIMEOUT }, async () => {
  const ws = await openWs('/ws/echo');
  ws.send('hello, echo ✓ 🚀');
  await until(() => ws.inbox.length >= 1, 'the echo');
  assert.equal(ws.inbox[0].isBinary, false);
  assert.equal(ws.inbox[0].data.toString('utf8'), 'hello, echo ✓ 🚀');
  ws.close();
});

test('/ws/echo echoes a binary message as binary with the same bytes', { timeout: TEST_TIMEOUT }, async () => {
  const ws = await openWs('/ws/echo');
  const payload = Buffer.from([0x00, 0xff, 0x80, 0x7f, 0xc3, 0x28, 0x0a]); // not valid UTF-8 on purpose
  ws.send(payload);
  await until(() => ws.inbox.length >= 1, 'the echo');
  assert.equal(ws.inbox[0].isBinary, true);
  assert.ok(Buffer.from(ws.inbox[0].data).equals(payload));
  ws.close();
});

test('/ws/echo keeps the order and frame type of interleaved text and binary messages', { timeout: TEST_TIMEOUT }, async () => {
  const ws = await openWs('/ws/echo');
  const sent = [];
  for (let i = 0; i < 50; i++) {
    const msg = i % 2 === 0 ? { data: `text-${i}`, isBinary: false } : { data: Buffer.from([i, i + 1, i + 2]), isBinary: true };
    sent.push(msg);
    ws.send(msg.data, { binary: msg.isBinary });
  }
  await until(() => ws.inbox.length >= sent.length, `${sent.length} echoes`);
  sent.forEach((msg, i) => {
    const got = ws.inbox[i];
    assert.equal(got.isBinary, msg.isBinary, `frame ${i} type`);
    assert.ok(Buffer.from(got.data).equals(Buffer.from(msg.data)), `frame ${i} content`);
  });
  ws.close();
});

test('/ws/echo echoes an empty message and a 32 KiB message', { timeout: TEST_TIMEOUT }, async () => {
  const ws = await openWs('/ws/echo');
  const big = 'y'.repeat(32 * 1024);
  ws.send('');
  ws.send(big);
  await until(() => ws.inbox.length >= 2, 'two echoes');
  assert.equal(ws.inbox[0].data.toString(), '');
  assert.equal(ws.inbox[1].data.toString(), big);
  ws.close();
});

test('/ws/echo closes cleanly when the client closes', { timeout: TEST_TIMEOUT }, async () => {
  const ws = await openWs('/ws/echo');
  ws.close(1000, 'bye');
  const { code } = await waitClose(ws);
  assert.equal(code, 1000);
});
