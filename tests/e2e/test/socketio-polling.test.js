// A client restricted to HTTP long-polling (transports: ['polling']) can
// connect, emit, get acks, receive server events and room broadcasts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, client, open, mintToken, waitFor, ack, join, record, until, sleep, TEST_TIMEOUT } from './helpers.js';

const POLLING = { transports: ['polling'] };

test('a polling-only client connects with its auth payload and stays on polling', { timeout: TEST_TIMEOUT }, async () => {
  const socket = client('/custom', { ...POLLING, auth: { via: 'polling' } });
  const auth = waitFor(socket, 'auth');
  await open(socket);
  assert.deepEqual((await auth)[0], { via: 'polling' });
  assert.equal(socket.io.engine.transport.name, 'polling');
  socket.disconnect();
});

test('a polling-only client emits, gets acks and server events', { timeout: TEST_TIMEOUT }, async () => {
  const socket = await connect('/', POLLING);
  const back = waitFor(socket, 'message-back');
  socket.emit('message', 'over', 'polling', { n: 1 });
  assert.deepEqual(await back, ['over', 'polling', { n: 1 }]);
  assert.deepEqual(await ack(socket, 'message-with-ack', 'acked'), ['acked']);

  // a burst of emits and acks over polling (several packets per HTTP request)
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => ack(socket, 'message-with-ack', i)));
  results.forEach((res, i) => assert.deepEqual(res, [i]));
  assert.equal(socket.io.engine.transport.name, 'polling');
  socket.disconnect();
});

test('a polling-only /lab client: whoami, echo, emit-back, ask', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({ sub: 'u-poll', name: 'Poller' });
  const socket = await connect('/lab', { ...POLLING, auth: { token } });
  const [me] = await ack(socket, 'whoami');
  assert.equal(me.sid, socket.id);
  assert.equal(me.userId, 'u-poll');
  assert.deepEqual(await ack(socket, 'echo', 'p', [1, 2]), ['p', [1, 2]]);
  const back = waitFor(socket, 'polled');
  socket.emit('emit-back', 'polled', { ok: true });
  assert.deepEqual(await back, [{ ok: true }]);
  socket.on('q', (x, callback) => callback(x + 1));
  assert.deepEqual(await ack(socket, 'ask', 'q', 1), [{ answer: [2] }]);
  socket.disconnect();
});

test('polling-only clients receive room broadcasts', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({ sub: 'u-poll-room', name: 'Poll Room' });
  const a = await connect('/lab', { ...POLLING, auth: { token } });
  const b = await connect('/lab', { ...POLLING, auth: { token } });
  await join(a, 'poll-room');
  await join(b, 'poll-room');
  const gotA = record(a, 'room-message');
  const gotB = record(b, 'room-message');
  a.emit('to-room', 'poll-room', 'from a');
  b.emit('to-room', 'poll-room', 'from b');
  await until(() => gotA.length >= 1 && gotB.length >= 1, 'both broadcasts');
  assert.deepEqual(gotA, [[b.id, 'from b']]);
  assert.deepEqual(gotB, [[a.id, 'from a']]);
  a.disconnect();
  b.disconnect();
});

test('a polling-only client stays connected while idle and works afterwards', { timeout: TEST_TIMEOUT }, async () => {
  const socket = await connect('/', POLLING);
  let disconnected = null;
  socket.on('disconnect', (reason) => { disconnected = reason; });
  await sleep(1500);
  assert.equal(disconnected, null);
  assert.deepEqual(await ack(socket, 'message-with-ack', 'after idle'), ['after idle']);
  socket.disconnect();
});
