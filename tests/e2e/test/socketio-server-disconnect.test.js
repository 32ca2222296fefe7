// `disconnect-me`: the server disconnects this socket; the client sees reason
// "io server disconnect" and does not reconnect by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, mintToken, waitFor, ack, sleep, open, TEST_TIMEOUT } from './helpers.js';

test('disconnect-me disconnects the socket with reason "io server disconnect"', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({ sub: 'u-bye', name: 'Bye' });
  const socket = await connect('/lab', { auth: { token }, reconnection: true, reconnectionDelay: 100 });
  const disconnected = waitFor(socket, 'disconnect');
  socket.emit('disconnect-me');
  const [reason] = await disconnected;
  assert.equal(reason, 'io server disconnect');
  assert.equal(socket.connected, false);
  assert.equal(socket.active, false, 'no automatic reconnection after a server-side disconnect');

  // it stays disconnected (no automatic reconnection) ...
  let reconnected = false;
  socket.once('connect', () => { reconnected = true; });
  await sleep(500);
  assert.equal(reconnected, false);

  // ... until the client connects again explicitly
  await open(socket);
  const [me] = await ack(socket, 'whoami');
  assert.equal(me.sid, socket.id);
  socket.disconnect();
});

test('disconnect-me on one namespace leaves the other namespaces of the connection connected', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({ sub: 'u-multi', name: 'Multi' });
  const lab = await connect('/lab', { auth: { token } });
  const root = lab.io.socket('/');
  await open(root);
  const disconnected = waitFor(lab, 'disconnect');
  lab.emit('disconnect-me');
  assert.equal((await disconnected)[0], 'io server disconnect');
  assert.ok(root.connected);
  assert.deepEqual(await ack(root, 'message-with-ack', 'alive'), ['alive']);
  root.disconnect();
});
