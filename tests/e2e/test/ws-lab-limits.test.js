// Limits of the plain WebSocket lab (server started with defaults):
// - rate limit 50 msg/s, burst 50: the excess gets RATE_LIMITED and is dropped,
//   the connection stays open;
// - a sustained flood (> 10x the limit in one second) is closed with 1008;
// - a client that does not read while the server floods it is closed with
//   1013 (outbound queue full) while other connections carry on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LabWs, waitClose, sleep } from './helpers.js';

test('/ws/lab/event: 120 messages at once get RATE_LIMITED for the excess; the connection stays open', { timeout: 15000 }, async () => {
  const lab = await LabWs.open('event');
  for (let i = 0; i < 120; i++) lab.send('echo', i);
  const first = await lab.nextNamed('error');
  assert.equal(first.data?.code, 'RATE_LIMITED', `got ${JSON.stringify(first)}`);
  assert.equal(typeof first.data.message, 'string');

  await sleep(1100); // let the bucket refill
  assert.equal(lab.ws.readyState, lab.ws.OPEN, 'still open after the burst');
  lab.send('echo', 'after the pause');
  const isMarker = (m) => m.event === 'echo' && m.data === 'after the pause';
  await lab.nextMatching(isMarker);
  const received = lab.received;
  const all = received.slice(0, received.findIndex(isMarker));
  const echoes = all.filter((m) => m.event === 'echo').map((m) => m.data);
  const errors = all.filter((m) => m.event === 'error');
  for (const e of errors) assert.equal(e.data.code, 'RATE_LIMITED', JSON.stringify(e));
  assert.equal(all.length, echoes.length + errors.length, 'only echoes and RATE_LIMITED errors');
  assert.ok(echoes.length >= 1, 'the first messages of the burst were served');
  assert.ok(echoes.length < 120, `the excess was dropped (served ${echoes.length} of 120)`);
  assert.deepEqual(echoes, [...echoes].sort((x, y) => x - y), 'served in order');
  assert.equal(new Set(echoes).size, echoes.length, 'no message served twice');
  // the burst allowance was honoured: the first message is among the served ones
  assert.equal(echoes[0], 0);
  await lab.ping();
  lab.close();
});

test('/ws/lab/type: the rate limit applies to the type envelope too', { timeout: 15000 }, async () => {
  const lab = await LabWs.open('type');
  for (let i = 0; i < 120; i++) lab.send('echo', i);
  const err = await lab.nextNamed('error');
  assert.deepEqual(Object.keys(err).sort(), ['data', 'type']);
  assert.equal(err.data.code, 'RATE_LIMITED');
  await sleep(1100);
  lab.send('echo', 'after');
  assert.deepEqual(await lab.nextMatching((m) => m.type === 'echo' && m.data === 'after'), { type: 'echo', data: 'after' });
  lab.close();
});

test('/ws/lab/event: the rate limit is per connection; another connection is served normally', { timeout: 15000 }, async () => {
  const noisy = await LabWs.open('event');
  const quiet = await LabWs.open('event');
  for (let i = 0; i < 120; i++) noisy.send('echo', i);
  assert.equal((await noisy.nextNamed('error')).data.code, 'RATE_LIMITED');
  for (let i = 0; i < 10; i++) assert.deepEqual(await quiet.request('echo', i), { event: 'echo', data: i });
  noisy.close();
  quiet.close();
});

test('/ws/lab/event: a sustained flood (1000 messages in a burst) is closed with 1008', { timeout: 15000 }, async () => {
  const bystander = await LabWs.open('event');
  const lab = await LabWs.open('event');
  lab.ws.inbox = null; // not interested in the replies
  for (let i = 0; i < 1000; i++) lab.send('echo', i);
  const { code, reason } = await waitClose(lab.ws, 10000);
  const errors = lab.ws.errors.map((e) => e.code ?? e.message).join(', ') || 'none';
  assert.equal(code, 1008, `closed with ${code} "${reason}" (socket errors: ${errors}); 1006 means no close frame arrived`);
  await bystander.ping();
  bystander.close();
});

test('/ws/lab/event: flood sends count messages {i, pad} in order to a reading client', { timeout: 15000 }, async () => {
  const lab = await LabWs.open('event');
  lab.send('flood', { count: 200, size: 100 });
  for (let i = 0; i < 200; i++) {
    const msg = await lab.next();
    assert.deepEqual(msg, { event: 'flood', data: { i, pad: 'x'.repeat(100) } });
  }
  await lab.ping();
  lab.close();
});

test('/ws/lab/event: a client that does not read while flooded is closed with 1013; others carry on', { timeout: 40000 }, async () => {
  const other = await LabWs.open('event');
  const slow = await LabWs.open('event');
  const count = 5000;
  const size = 16 * 1024; // ~80 MB in total: far more than socket buffers hold

  // check the flood as it is finally read, without keeping it in memory
  slow.ws.inbox = null;
  let received = 0;
  let outOfOrder = null;
  slow.ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.event !== 'flood') return;
    if (msg.data.i !== received && outOfOrder === null) outOfOrder = `expected i=${received}, got i=${msg.data.i}`;
    received += 1;
  });

  slow.send('flood', { count, size });
  slow.ws._socket.pause(); // stop reading: the server's outbound queue fills up

  // meanwhile the server keeps serving other connections
  for (let k = 0; k < 4; k++) {
    await other.ping();
    assert.deepEqual(await other.request('echo', k), { event: 'echo', data: k });
    await sleep(500);
  }

  slow.ws._socket.resume();
  const { code } = await waitClose(slow.ws, 20000).catch((err) => {
    throw new Error(`${err.message} (read ${received} of ${count} flood messages)`);
  });
  assert.equal(code, 1013, `closed with ${code} after ${received} flood messages`);
  assert.ok(received < count, `the slow client was cut off (got ${received} of ${count})`);
  assert.equal(outOfOrder, null, outOfOrder ?? '');

  await other.ping();
  assert.deepEqual(await other.request('echo', 'after'), { event: 'echo', data: 'after' });
  other.close();
});
