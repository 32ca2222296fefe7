// Conference app: chat-message, its errors, chat-history and persistence.
// Contract: docs/conference.md "Everyone" (chat-message) and "Leaving" (empty rooms).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CONF,
  T,
  T_LONG,
  api,
  assertError,
  assertNone,
  join,
  joinAll,
  roomId,
  settle,
  sleep,
  until,
  suite,
} from './conference-helpers.js';

suite('conference: chat-message', () => {
  test('chat-message {message} → everyone else gets {id, peerId, username, message, timestamp, type}; not the sender (chat_echo_to_sender = false)', { timeout: T }, async () => {
    const room = roomId('chat');
    const [a, b, c] = await joinAll(room, ['Ann', 'Bo', 'Cy']);
    const before = Date.now();
    const mb = b.mark();
    b.send('chat-message', { message: 'Hello everyone!' });
    const got = [];
    for (const x of [a, c]) got.push(await x.data('chat-message'));
    await settle(b);
    assertNone(b, mb, 'chat-message', 'the sender shows its own copy; an echo would show twice');
    const m = got[0];
    for (const k of ['id', 'peerId', 'username', 'message', 'timestamp', 'type']) assert.ok(k in m, `chat-message has "${k}": ${JSON.stringify(m)}`);
    assert.match(m.id, /^msg_[0-9a-f]{12}$/i, 'server-made id');
    assert.equal(m.peerId, b.id);
    assert.equal(m.username, 'Bo');
    assert.equal(m.message, 'Hello everyone!');
    assert.equal(typeof m.timestamp, 'number', 'timestamp in ms');
    assert.ok(m.timestamp >= before - 5000 && m.timestamp <= Date.now() + 5000, `timestamp ${m.timestamp} is now (ms)`);
    for (const other of got) assert.deepEqual(other, m, 'everyone gets the same message');
  });

  test('chat-message: a client-made id, timestamp and type are kept', { timeout: T }, async () => {
    const room = roomId('chat');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    a.send('chat-message', { id: 'msg_client00001', message: 'mine', timestamp: 1698500000000, type: 'text' });
    const m = await b.data('chat-message');
    assert.equal(m.id, 'msg_client00001');
    assert.equal(m.timestamp, 1698500000000);
    assert.equal(m.type, 'text');
  });

  test('chat-message: peerId and username are the sender\'s, whatever the client claims', { timeout: T }, async () => {
    const room = roomId('chat');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    b.send('chat-message', { message: 'I am Ann', peerId: a.id, username: 'Ann' });
    const m = await a.data('chat-message');
    assert.equal(m.peerId, b.id);
    assert.equal(m.username, 'Bo');
  });

  test('chat-message: markup stripped from message and username', { timeout: T }, async () => {
    const room = roomId('chat');
    const a = await join(room, { label: 'Ann' });
    const b = await join(room, { username: '<i>Bo</i>' });
    b.send('chat-message', { message: '<b>hi</b><script>x</script>' });
    const m = await a.data('chat-message');
    assert.doesNotMatch(m.message, /[<>]/, `no tags left in ${JSON.stringify(m.message)}`);
    assert.match(m.message, /hi/);
    assert.equal(m.username, 'Bo');
    b.send('chat-message', { message: 'a <img src=x onerror=alert(1)> b' });
    const m2 = await a.data('chat-message');
    assert.doesNotMatch(m2.message, /<|onerror/, `no tag left in ${JSON.stringify(m2.message)}`);
  });

  test(`chat-message of exactly max_chat_length (${CONF.maxChatLength}) characters is accepted`, { timeout: T }, async () => {
    const room = roomId('chat');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    const text = 'é'.repeat(CONF.maxChatLength); // characters, not bytes
    a.send('chat-message', { message: text });
    assert.equal((await b.data('chat-message')).message, text);
  });

  test('MESSAGE_TOO_LONG: a chat message over max_chat_length; nobody gets it', { timeout: T }, async () => {
    const room = roomId('chat');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    const mb = b.mark();
    a.send('chat-message', { message: 'x'.repeat(CONF.maxChatLength + 1) });
    assertError(await a.error('MESSAGE_TOO_LONG'), 'MESSAGE_TOO_LONG');
    await settle(a, b);
    assertNone(b, mb, 'chat-message');
    assertNone(a, mb, 'chat-message');
    assert.ok(a.isOpen);
  });

  for (const [what, message] of [
    ['empty', ''],
    ['markup only', '<b></b>'],
  ]) {
    test(`INVALID_MESSAGE: a chat message that is ${what} (after stripping)`, { timeout: T }, async () => {
      const room = roomId('chat');
      const [a, b] = await joinAll(room, ['Ann', 'Bo']);
      const mb = b.mark();
      a.send('chat-message', { message });
      assertError(await a.error('INVALID_MESSAGE'), 'INVALID_MESSAGE');
      await settle(a, b);
      assertNone(b, mb, 'chat-message');
      assert.ok(a.isOpen);
    });
  }

  test('CHAT_DISABLED: a message while chat is disabled goes nowhere and is not stored', { timeout: T }, async () => {
    const room = roomId('chatoff');
    const [h, a, b] = await joinAll(room, ['Host', 'Ann', 'Bo']);
    h.send('chat-disabled', {});
    for (const x of [h, a, b]) await x.data('chat-disabled');
    const marks = [h, b].map((x) => x.mark());
    a.send('chat-message', { message: 'should vanish' });
    assertError(await a.error('CHAT_DISABLED'), 'CHAT_DISABLED');
    await settle(a, h, b);
    assertNone(h, marks[0], 'chat-message');
    assertNone(b, marks[1], 'chat-message');
    const hist = await api('GET', `/api/v1/conference/rooms/${room}/chat`);
    assert.equal(hist.status, 200);
    assert.ok(!JSON.stringify(hist.body).includes('should vanish'), 'not stored');
    const n = await join(room, { label: 'Newcomer' });
    assert.deepEqual((await n.data('chat-history')).messages, []);
  });
});

suite('conference: chat-history', () => {
  test('chat-history {messages}: a newcomer gets earlier messages, oldest first, as they were sent', { timeout: T }, async () => {
    const room = roomId('hist');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    const sent = [];
    for (const [who, other, text] of [[a, b, 'one'], [b, a, 'two'], [a, b, 'three']]) {
      who.send('chat-message', { message: text });
      sent.push(await other.data('chat-message', (d) => d.message === text));
    }
    const n = await join(room, { label: 'Newcomer' });
    const h = await n.data('chat-history');
    assert.ok(Array.isArray(h.messages), 'messages is an array');
    assert.deepEqual(
      h.messages.map((m) => ({ id: m.id, peerId: m.peerId, username: m.username, message: m.message, timestamp: m.timestamp })),
      sent.map((m) => ({ id: m.id, peerId: m.peerId, username: m.username, message: m.message, timestamp: m.timestamp })),
    );
  });

  test('chat-history keeps the sending order of a burst (messages sent within the same millisecond)', { timeout: T }, async () => {
    const room = roomId('historder');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    const texts = Array.from({ length: 15 }, (_, i) => `burst-${String(i).padStart(2, '0')}`);
    for (const text of texts) a.send('chat-message', { message: text });
    await b.data('chat-message', (d) => d.message === texts.at(-1));
    assert.deepEqual(b.all('chat-message').map((m) => m.data.message), texts, 'live delivery in order');
    const n = await join(room, { label: 'Newcomer' });
    const h = await n.data('chat-history');
    assert.deepEqual(h.messages.map((m) => m.message), texts, 'history in sending order');
    const rest = await api('GET', `/api/v1/conference/rooms/${room}/chat`);
    assert.deepEqual(rest.body.messages.map((m) => m.message), texts, 'REST chat in sending order');
  });

  test(`chat-history holds at most chat_history_limit (${CONF.chatHistoryLimit}) messages, the most recent, oldest first`, { timeout: T_LONG }, async () => {
    const room = roomId('histlimit');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    b.keepAlive();
    const total = CONF.chatHistoryLimit + 3;
    // stay under max_messages_per_second (20): batches of 15, one per 1.1 s
    for (let i = 0; i < total; i += 15) {
      for (let j = i; j < Math.min(total, i + 15); j++) a.send('chat-message', { message: `m${j}` });
      await b.data('chat-message', (d) => d.message === `m${Math.min(total, i + 15) - 1}`);
      if (i + 15 < total) await sleep(1100);
    }
    assert.equal(a.all('error').length, 0, `no errors while sending: ${a.history()}`);
    const n = await join(room, { label: 'Newcomer' });
    const h = await n.data('chat-history');
    assert.deepEqual(
      h.messages.map((m) => m.message),
      Array.from({ length: CONF.chatHistoryLimit }, (_, k) => `m${k + total - CONF.chatHistoryLimit}`),
    );
  });

  test('chat history is persisted: after the empty room is deleted, a new room with the same id gets it', { timeout: T_LONG }, async () => {
    const room = roomId('persist');
    const [a, witness] = await joinAll(room, ['Ann', 'Wit']);
    a.send('chat-message', { message: 'remember me' });
    const sent = await witness.data('chat-message');
    const hostId = a.id;
    await witness.close(1000);
    await a.close(1000);
    // empty_room_ttl_seconds = 1: the room disappears from the REST API
    await until(
      async () => (await api('GET', `/api/v1/conference/rooms/${room}`)).status === 404,
      'the empty room is deleted',
      6000,
    );
    const b = await join(room, { label: 'Bo' });
    assert.equal(b.peers.isHost, true, 'a fresh room: the newcomer is its host');
    assert.notEqual(b.peers.hostId, hostId);
    const h = await b.data('chat-history');
    assert.ok(
      h.messages.some((m) => m.id === sent.id && m.message === 'remember me'),
      `history survives the room: ${JSON.stringify(h)}`,
    );
  });
});
