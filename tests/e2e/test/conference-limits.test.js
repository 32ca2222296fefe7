// Conference app: rate limit, flood close, message size, bad input, unknown events.
// Contract: docs/conference.md "Limits and bad input".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CONF,
  T,
  assertError,
  assertNone,
  connect,
  join,
  joinAll,
  roomId,
  settle,
  sleep,
  until,
  suite,
} from './conference-helpers.js';

suite('conference: rate limit and flood', () => {
  test(`RATE_LIMITED: 60 messages at once (max ${CONF.maxMessagesPerSecond}/s) → at least one RATE_LIMITED, the excess dropped, connection stays open`, { timeout: T }, async () => {
    const room = roomId('rate');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    const mb = b.mark();
    for (let i = 0; i < 60; i++) a.send('reaction', { emoji: '👍' });
    await until(
      () => a.all('error').some((m) => m.data.code === 'RATE_LIMITED'),
      'a RATE_LIMITED error',
      5000,
    );
    await sleep(300);
    const delivered = b.since(mb).filter((m) => m.event === 'reaction').length;
    assert.ok(delivered < 60, `the excess is dropped: ${delivered} of 60 reactions delivered`);
    assert.ok(delivered >= 1, 'messages within the limit get through');
    const codes = new Set(a.all('error').map((m) => m.data.code));
    assert.deepEqual([...codes], ['RATE_LIMITED'], 'no other error');
    await sleep(1100); // let the budget refill
    a.resyncPings();
    await a.ping();
    assert.ok(a.isOpen, 'still open');
    a.send('reaction', { emoji: '🎉' });
    await b.data('reaction', (d) => d.emoji === '🎉');
  });

  test('a flood of 500 messages at once (over 10× the limit) → close 1008', { timeout: T }, async () => {
    const room = roomId('flood');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    b.keepAlive();
    for (let i = 0; i < 500 && a.isOpen; i++) a.send('ping', {});
    const { code } = await a.closedWithin(5000);
    assert.equal(code, 1008);
    // the flooder is gone from the room (peer-left, at once or after the grace)
    await b.data('peer-left', (d) => d.peerId === a.id, CONF.reconnectGraceSeconds * 1000 + 4000);
  });
});

suite('conference: bad input', () => {
  test(`MESSAGE_TOO_LARGE: a 10 KB message (max_message_bytes ${CONF.maxMessageBytes}); connection stays open`, { timeout: T }, async () => {
    const room = roomId('large');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    const mb = b.mark();
    const big = JSON.stringify({ event: 'annotation-draw', data: { blob: 'x'.repeat(10 * 1024) } });
    assert.ok(Buffer.byteLength(big) > CONF.maxMessageBytes);
    a.sendRaw(big);
    assertError(await a.error('MESSAGE_TOO_LARGE'), 'MESSAGE_TOO_LARGE');
    await settle(a, b);
    assertNone(b, mb, 'annotation-draw', 'a too-large message is not relayed');
    assert.ok(a.isOpen);
    // a too-large chat message is MESSAGE_TOO_LARGE too (size is checked first)
    a.send('chat-message', { message: 'y'.repeat(10 * 1024) });
    await until(() => a.all('error').length >= 2, 'second error');
    assert.equal(a.all('error')[1].data.code, 'MESSAGE_TOO_LARGE');
  });

  for (const [what, text] of [
    ['invalid JSON', '{"event": "ping", '],
    ['plain text', 'hello'],
    ['a JSON array', '[1, 2, 3]'],
    ['a JSON string', '"join"'],
    ['no event field', '{"data": {}}'],
    ['a non-string event', '{"event": 42, "data": {}}'],
  ]) {
    test(`INVALID_MESSAGE: ${what}; connection stays open`, { timeout: T }, async () => {
      const a = await join(roomId('badjson'), { label: 'Ann' });
      a.sendRaw(text);
      assertError(await a.error('INVALID_MESSAGE'), 'INVALID_MESSAGE');
      await a.ping();
      assert.ok(a.isOpen);
    });
  }

  test('INVALID_MESSAGE before join (invalid JSON); connection stays open', { timeout: T }, async () => {
    const c = await connect(roomId('badjson'), { label: 'early' });
    c.sendRaw('not json');
    await c.error('INVALID_MESSAGE');
    await c.ping();
  });

  test('UNKNOWN_EVENT: an event the app does not know; connection stays open', { timeout: T }, async () => {
    const room = roomId('unknown');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    const mb = b.mark();
    a.send('frobnicate', { targetPeerId: b.id });
    assertError(await a.error('UNKNOWN_EVENT'), 'UNKNOWN_EVENT');
    await settle(a, b);
    assertNone(b, mb, 'frobnicate', 'unknown events are not relayed');
    assert.ok(a.isOpen);
  });

  test('server-only event names sent by a client (peer-joined, peer-left, host-changed, room-closed) get an error and are not relayed', { timeout: T }, async () => {
    const room = roomId('spoof');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    const mb = b.mark();
    a.send('peer-joined', { peerId: 'peer_deadbeef', username: 'Ghost' });
    a.send('peer-left', { peerId: b.id });
    a.send('host-changed', { hostId: a.id });
    a.send('room-closed', {});
    await settle(a, b);
    assertNone(b, mb, ['peer-joined', 'peer-left', 'host-changed', 'room-closed'], 'clients cannot forge server events');
    assert.ok(b.isOpen);
    const errs = a.all('error').map((m) => m.data.code);
    assert.equal(errs.length, 4, `each gets an error: ${a.history()}`);
  });
});
