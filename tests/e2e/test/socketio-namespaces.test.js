// Unknown namespaces are refused with "Invalid namespace"; namespaces matching
// ^/dyn-[a-z0-9]+$ are created on demand and greet with `hello` {nsp}.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, open, connect, connectError, waitFor, ack, TEST_TIMEOUT } from './helpers.js';

test('connecting to an unknown namespace fails with connect_error "Invalid namespace"', { timeout: TEST_TIMEOUT }, async () => {
  const err = await connectError('/nope');
  assert.equal(err.message, 'Invalid namespace');
});

test('names that do not match ^/dyn-[a-z0-9]+$ are unknown namespaces', { timeout: TEST_TIMEOUT }, async () => {
  for (const nsp of ['/dyn-', '/dyn-ABC', '/dyn-a_b', '/dynabc', '/xdyn-abc']) {
    const err = await connectError(nsp);
    assert.equal(err.message, 'Invalid namespace', `namespace ${nsp}`);
  }
});

test('an unknown namespace does not break other namespaces on the same connection', { timeout: TEST_TIMEOUT }, async () => {
  const good = client('/');
  await open(good);
  const bad = good.io.socket('/nope');
  const err = waitFor(bad, 'connect_error');
  bad.connect();
  const [e] = await err;
  assert.equal(e.message, 'Invalid namespace');
  assert.ok(good.connected);
  assert.deepEqual(await ack(good, 'message-with-ack', 'still here'), ['still here']);
  good.disconnect();
});

test('a dynamic namespace /dyn-<id> connects and the server emits hello {nsp}', { timeout: TEST_TIMEOUT }, async () => {
  for (const nsp of ['/dyn-xyz', '/dyn-abc123', '/dyn-7']) {
    const socket = client(nsp);
    const hello = waitFor(socket, 'hello');
    await open(socket);
    assert.ok(socket.connected, `${nsp} connected`);
    const [payload] = await hello;
    assert.deepEqual(payload, { nsp });
    socket.disconnect();
  }
});

test('two clients of the same dynamic namespace both get hello', { timeout: TEST_TIMEOUT }, async () => {
  const a = client('/dyn-shared1');
  const b = client('/dyn-shared1');
  const helloA = waitFor(a, 'hello');
  const helloB = waitFor(b, 'hello');
  await Promise.all([open(a), open(b)]);
  assert.deepEqual((await helloA)[0], { nsp: '/dyn-shared1' });
  assert.deepEqual((await helloB)[0], { nsp: '/dyn-shared1' });
  a.disconnect();
  b.disconnect();
});

test('a plain namespace connection stays usable next to a dynamic one', { timeout: TEST_TIMEOUT }, async () => {
  const root = await connect('/');
  const dyn = root.io.socket('/dyn-side');
  const hello = waitFor(dyn, 'hello');
  await open(dyn);
  assert.deepEqual((await hello)[0], { nsp: '/dyn-side' });
  assert.equal(dyn.io.engine.id, root.io.engine.id, 'same Engine.IO connection');
  assert.deepEqual(await ack(root, 'message-with-ack', 1), [1]);
  dyn.disconnect();
  root.disconnect();
});
