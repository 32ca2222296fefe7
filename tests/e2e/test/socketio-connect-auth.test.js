// Namespaces `/` and `/custom`: on connection the server emits `auth` with the
// client's CONNECT auth payload; on `/`, `message` is answered with
// `message-back` (same args) and `message-with-ack` is acked with the same args.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, open, connect, waitFor, record, until, ack, TEST_TIMEOUT } from './helpers.js';

for (const nsp of ['/', '/custom']) {
  test(`on ${nsp} the server emits "auth" with the CONNECT auth payload`, { timeout: TEST_TIMEOUT }, async () => {
    const payload = { token: 'abc', user: { id: 7, tags: ['a', 'b'] }, flag: true, nothing: null, n: 1.5 };
    const socket = client(nsp, { auth: payload });
    const authEvent = waitFor(socket, 'auth');
    await open(socket);
    assert.ok(socket.connected);
    assert.equal(typeof socket.id, 'string');
    const [received] = await authEvent;
    assert.deepEqual(received, payload);
    socket.disconnect();
  });
}

test('a client that sends no auth payload gets "auth" with an empty object', { timeout: TEST_TIMEOUT }, async () => {
  const socket = client('/custom');
  const authEvent = waitFor(socket, 'auth');
  await open(socket);
  const [received] = await authEvent;
  assert.deepEqual(received, {});
  socket.disconnect();
});

test('the auth payload is per socket: two clients each get their own', { timeout: TEST_TIMEOUT }, async () => {
  const a = client('/', { auth: { who: 'a' } });
  const b = client('/', { auth: { who: 'b' } });
  const authA = waitFor(a, 'auth');
  const authB = waitFor(b, 'auth');
  await Promise.all([open(a), open(b)]);
  assert.notEqual(a.id, b.id);
  assert.deepEqual((await authA)[0], { who: 'a' });
  assert.deepEqual((await authB)[0], { who: 'b' });
  a.disconnect();
  b.disconnect();
});

test('on / "message" is answered with "message-back" carrying the same args', { timeout: TEST_TIMEOUT }, async () => {
  const socket = await connect('/');
  const args = ['hello', 42, { nested: { list: [1, 'two', null, false] } }, [3, 4], 'ünïcödé ✓ 🚀'];
  const back = waitFor(socket, 'message-back');
  socket.emit('message', ...args);
  assert.deepEqual(await back, args);

  // no args at all
  const empty = waitFor(socket, 'message-back');
  socket.emit('message');
  assert.deepEqual(await empty, []);
  socket.disconnect();
});

test('on / "message-with-ack" is acked with the same args', { timeout: TEST_TIMEOUT }, async () => {
  const socket = await connect('/');
  assert.deepEqual(await ack(socket, 'message-with-ack', 1, 'two', { three: 3 }), [1, 'two', { three: 3 }]);
  assert.deepEqual(await ack(socket, 'message-with-ack'), []);
  socket.disconnect();
});

test('many messages from one client come back in order', { timeout: TEST_TIMEOUT }, async () => {
  const socket = await connect('/');
  const seen = record(socket, 'message-back');
  for (let i = 0; i < 200; i++) socket.emit('message', i);
  await until(() => seen.length >= 200, '200 message-back events');
  assert.deepEqual(seen, Array.from({ length: 200 }, (_, i) => [i]));
  socket.disconnect();
});
