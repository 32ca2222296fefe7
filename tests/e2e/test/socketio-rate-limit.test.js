// The per-connection rate limit of Socket.IO (socketio.messages_per_second = 100 and
// socketio.message_burst = 200, the defaults the conformance server keeps). A client that
// sends faster is read more slowly: every one of its messages is still handled, in order,
// and other clients are not held up behind it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, ack, ackWithin, get, TEST_TIMEOUT } from './helpers.js';

async function throttledTotal() {
  const res = await get('/metrics');
  assert.equal(res.status, 200);
  const m = /^roomwire_throttled_messages_total (\d+)$/m.exec(await res.text());
  assert.ok(m, '/metrics has roomwire_throttled_messages_total');
  return Number(m[1]);
}

test('a flooding client is slowed, not dropped: all its acks come back in order', { timeout: TEST_TIMEOUT }, async () => {
  const before = await throttledTotal();
  const flooder = await connect('/');
  const acked = [];
  // 400 at once: the first 200 are the burst, the other 200 are read at 100 per second.
  await Promise.all(
    Array.from({ length: 400 }, (_, i) =>
      ackWithin(10_000, flooder, 'message-with-ack', i).then(([n]) => acked.push(n)),
    ),
  );
  assert.deepEqual(acked, Array.from({ length: 400 }, (_, i) => i), 'every message handled, in order');
  const throttled = (await throttledTotal()) - before;
  assert.ok(throttled >= 150, `about 200 of the 400 were read late (counted ${throttled})`);
  flooder.disconnect();
});

test('another client is answered while a flooder waits its turn', { timeout: TEST_TIMEOUT }, async () => {
  const flooder = await connect('/');
  const bystander = await connect('/');
  let flooderDone = false;
  const flood = Promise.all(
    Array.from({ length: 500 }, (_, i) => ackWithin(10_000, flooder, 'message-with-ack', i)),
  ).then(() => {
    flooderDone = true;
  });
  // The flooder's last messages are read seconds from now; the bystander's ack comes first.
  assert.deepEqual(await ack(bystander, 'message-with-ack', 'hello'), ['hello']);
  assert.equal(flooderDone, false, "the bystander's ack arrived before the flooder's last one");
  await flood;
  flooder.disconnect();
  bystander.disconnect();
});
