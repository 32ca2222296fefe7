// With the default transports a client starts on HTTP long-polling and is
// upgraded to WebSocket; the session (Engine.IO id and socket) survives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, open, mintToken, waitFor, ack, assertDeepBinary, record, until, TEST_TIMEOUT } from './helpers.js';

test('polling is upgraded to websocket and the socket keeps working', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({ sub: 'u-upgrade', name: 'Upgrader' });
  const socket = client('/lab', { auth: { token } }); // default transports: polling, then websocket
  socket.connect();
  const engine = socket.io.engine;
  assert.ok(engine, 'the engine exists once connecting');
  assert.equal(engine.transport.name, 'polling', 'starts on polling');
  const upgraded = waitFor(engine, 'upgrade');
  await open(socket);
  const engineId = engine.id;
  const sid = socket.id;

  const [transport] = await upgraded;
  assert.equal(transport.name, 'websocket');
  assert.equal(socket.io.engine.transport.name, 'websocket');
  assert.equal(socket.io.engine.id, engineId, 'same Engine.IO session after the upgrade');
  assert.equal(socket.id, sid, 'same socket after the upgrade');
  assert.ok(socket.connected);

  const [me] = await ack(socket, 'whoami');
  assert.equal(me.sid, sid);
  assert.deepEqual(await ack(socket, 'echo', 'over', 'websocket'), ['over', 'websocket']);
  const args = [{ data: Buffer.from([1, 2, 3]) }, [Buffer.from('xyz')]];
  const back = waitFor(socket, 'upgraded-binary');
  socket.emit('emit-back', 'upgraded-binary', ...args);
  assertDeepBinary(await back, args, 'emit-back');
  socket.disconnect();
});

test('messages emitted while the upgrade is in progress are all delivered in order', { timeout: TEST_TIMEOUT }, async () => {
  const socket = client('/');
  const back = record(socket, 'message-back');
  socket.connect();
  const upgraded = waitFor(socket.io.engine, 'upgrade');
  await open(socket);
  // emit continuously from connect until well after the upgrade
  let i = 0;
  const total = 300;
  const timer = setInterval(() => {
    for (let k = 0; k < 10 && i < total; k++) socket.emit('message', i++);
    if (i >= total) clearInterval(timer);
  }, 5);
  await upgraded;
  await until(() => back.length >= total, `${total} message-back events`);
  clearInterval(timer);
  assert.deepEqual(back.map(([n]) => n), Array.from({ length: total }, (_, n) => n));
  assert.equal(socket.io.engine.transport.name, 'websocket');
  socket.disconnect();
});
