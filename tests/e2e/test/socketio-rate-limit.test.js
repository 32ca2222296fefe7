// The per-connection rate of Socket.IO (socketio.messages_per_second = 100 after a burst of
// socketio.message_burst = 1000: the defaults, which the conformance server keeps). A client
// within its burst is served in full; one that goes beyond it is disconnected (WebSocket close
// 1008, MESSAGE_FLOOD in /metrics), on either transport, and nobody else notices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, ack, ackWithin, get, waitFor, openWs, waitClose, TEST_TIMEOUT } from './helpers.js';

async function floodCloses() {
  const res = await get('/metrics');
  assert.equal(res.status, 200);
  const m = /^roomwire_errors_total\{code="MESSAGE_FLOOD"\} (\d+)$/m.exec(await res.text());
  return m ? Number(m[1]) : 0;
}

for (const transport of ['websocket', 'polling']) {
  test(`${transport}: a burst within message_burst is handled whole, in order`, { timeout: TEST_TIMEOUT }, async () => {
    const socket = await connect('/', { transports: [transport] });
    // 900 of the 1000: the connect itself and the transport's own packets count too.
    const acked = [];
    await Promise.all(
      Array.from({ length: 900 }, (_, i) =>
        ackWithin(10_000, socket, 'message-with-ack', i).then(([n]) => acked.push(n)),
      ),
    );
    assert.deepEqual(acked, Array.from({ length: 900 }, (_, i) => i));
    assert.equal(socket.connected, true);
    socket.disconnect();
  });

  test(`${transport}: a client far beyond its burst is disconnected; another client is not`, { timeout: TEST_TIMEOUT }, async () => {
    const before = await floodCloses();
    const bystander = await connect('/', { transports: [transport] });
    const flooder = await connect('/', { transports: [transport], reconnection: false });
    const gone = waitFor(flooder, 'disconnect');
    for (let i = 0; i < 3000; i += 1) flooder.emit('message-with-ack', i, () => {});
    await gone;
    assert.equal(await floodCloses(), before + 1, 'one MESSAGE_FLOOD close counted');
    assert.deepEqual(await ack(bystander, 'message-with-ack', 'still here'), ['still here']);
    bystander.disconnect();
  });
}

test('the flood close is a WebSocket close 1008 on a raw Engine.IO connection', { timeout: TEST_TIMEOUT }, async () => {
  const ws = await openWs('/socket.io/?EIO=4&transport=websocket');
  ws.inbox = null;
  ws.send('40');
  const closed = waitClose(ws);
  for (let i = 0; i < 3000; i += 1) ws.send(`42["message-with-ack",${i}]`);
  const { code } = await closed;
  assert.equal(code, 1008);
});
