// `drop-transport`: the server closes the Engine.IO transport abruptly (no
// disconnect packet); socket.io-client sees reason "transport close" and
// reconnects by itself, getting a new sid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, mintToken, waitFor, until, ack, join, record, TEST_TIMEOUT } from './helpers.js';

const RECONNECT_OPTS = {
  reconnection: true,
  reconnectionDelay: 100,
  reconnectionDelayMax: 500,
  randomizationFactor: 0,
  reconnectionAttempts: 20,
};

for (const transports of [['websocket'], ['polling']]) {
  const label = transports[0];
  test(`after drop-transport (${label}) the client sees "transport close", reconnects with a new sid and works`, { timeout: TEST_TIMEOUT }, async () => {
    const token = await mintToken({ sub: 'u-recon', name: 'Reconnecting' });
    const socket = await connect('/lab', { auth: { token }, transports, ...RECONNECT_OPTS });
    const firstSid = socket.id;
    const firstEngineId = socket.io.engine.id;
    assert.equal((await join(socket, 'before-drop')).room, 'before-drop');

    const connects = record(socket, 'connect');
    const disconnected = waitFor(socket, 'disconnect');
    const reconnected = waitFor(socket.io, 'reconnect', 10000);
    socket.emit('drop-transport');

    const [reason] = await disconnected;
    if (label === 'websocket') {
      assert.equal(reason, 'transport close');
    } else {
      // an aborted long-polling request surfaces as a transport close or error
      assert.ok(['transport close', 'transport error'].includes(reason), `disconnect reason was "${reason}"`);
    }
    assert.equal(socket.connected, false);
    assert.equal(socket.active, true, 'the client is going to reconnect by itself');

    await reconnected;
    await until(() => connects.length >= 1, 'a new connect event after the drop');
    assert.ok(socket.connected);
    assert.notEqual(socket.id, firstSid, 'a new socket id after reconnecting');
    assert.notEqual(socket.io.engine.id, firstEngineId, 'a new Engine.IO session');

    const [me] = await ack(socket, 'whoami');
    assert.equal(me.sid, socket.id);
    assert.equal(me.userId, 'u-recon');
    assert.deepEqual(await ack(socket, 'echo', 'after', { n: 1 }), ['after', { n: 1 }]);
    // the new socket starts with only its own room
    const joined = await join(socket, 'after-drop');
    assert.deepEqual(joined.rooms, ['after-drop', socket.id].sort());
    socket.disconnect();
  });
}

test('a dropped client does not disturb another client', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({ sub: 'u-steady', name: 'Steady' });
  const steady = await connect('/lab', { auth: { token } });
  const dropper = await connect('/lab', { auth: { token }, transports: ['websocket'], ...RECONNECT_OPTS });
  const disconnected = waitFor(dropper, 'disconnect');
  const reconnected = waitFor(dropper.io, 'reconnect', 10000);
  dropper.emit('drop-transport');
  assert.equal((await disconnected)[0], 'transport close');
  assert.ok(steady.connected);
  assert.deepEqual(await ack(steady, 'echo', 'steady'), ['steady']);
  await reconnected;
  await until(() => dropper.connected, 'the dropped client to connect again');
  assert.deepEqual(await ack(dropper, 'echo', 'back'), ['back']);
  steady.disconnect();
  dropper.disconnect();
});
