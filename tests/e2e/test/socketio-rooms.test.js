// Rooms on /lab: join/leave acks with the sorted room list (including the
// socket's own sid); `to-room` reaches the room's members except the sender
// (also when the sender is not a member); `to-room-except` reaches members of
// `room` that are not in `exceptRoom`, the sender included if it qualifies.
//
// Negative checks ("X does not hear it") are made deterministic with a
// sentinel: after the message under test, a second broadcast that X *does*
// receive is sent through the same sender; the server handles one socket's
// events in order and each socket's outbound stream is FIFO, so X must have
// seen nothing but the sentinel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, mintToken, ack, join, record, until, TEST_TIMEOUT } from './helpers.js';

async function labClients(n, tag) {
  const sockets = [];
  for (let i = 0; i < n; i++) {
    const token = await mintToken({ sub: `u-${tag}-${i}`, name: `${tag} ${i}` });
    sockets.push(await connect('/lab', { auth: { token } }));
  }
  return sockets;
}

const untilCount = (list, n, who) => until(() => list.length >= n, `${who} to receive ${n} room-message(s)`);

test('join and leave ack with the sorted list of the socket rooms, including its own sid', { timeout: TEST_TIMEOUT }, async () => {
  const [s] = await labClients(1, 'joiner');
  let res = await join(s, 'zeta');
  assert.deepEqual(res, { room: 'zeta', rooms: ['zeta', s.id].sort() });
  res = await join(s, 'alpha');
  assert.deepEqual(res, { room: 'alpha', rooms: ['alpha', 'zeta', s.id].sort() });
  res = await join(s, 'alpha'); // joining twice is idempotent
  assert.deepEqual(res.rooms, ['alpha', 'zeta', s.id].sort());
  [res] = await ack(s, 'leave', 'zeta');
  assert.deepEqual(res, { room: 'zeta', rooms: ['alpha', s.id].sort() });
  [res] = await ack(s, 'leave', 'not-joined');
  assert.deepEqual(res, { room: 'not-joined', rooms: ['alpha', s.id].sort() });
  s.disconnect();
});

test('to-room reaches the two members of the room, not the third client', { timeout: TEST_TIMEOUT }, async () => {
  const [a, b, c] = await labClients(3, 'rooms1');
  await join(a, 'r1');
  await join(b, 'r1');
  for (const s of [a, b, c]) await join(s, 'everyone');
  const got = { a: record(a, 'room-message'), b: record(b, 'room-message'), c: record(c, 'room-message') };

  // c is not in r1: it can still send to it; both members hear it
  c.emit('to-room', 'r1', 'hello r1', { n: 1 }, [true, null]);
  await untilCount(got.a, 1, 'a');
  await untilCount(got.b, 1, 'b');
  assert.deepEqual(got.a[0], [c.id, 'hello r1', { n: 1 }, [true, null]]);
  assert.deepEqual(got.b[0], [c.id, 'hello r1', { n: 1 }, [true, null]]);

  // sentinel: c (the sender, not a member of r1) then hears a broadcast to "everyone" and nothing before it
  a.emit('to-room', 'everyone', 'sentinel');
  await untilCount(got.c, 1, 'c');
  assert.deepEqual(got.c, [[a.id, 'sentinel']], 'the non-member did not hear the r1 message');
  for (const list of Object.values(got)) list.stop();
  for (const s of [a, b, c]) s.disconnect();
});

test('to-room excludes the sender even when it is a member', { timeout: TEST_TIMEOUT }, async () => {
  const [a, b, c] = await labClients(3, 'rooms2');
  await join(a, 'r2');
  await join(b, 'r2');
  await join(c, 'lobby');
  await join(a, 'lobby');
  const got = { a: record(a, 'room-message'), b: record(b, 'room-message'), c: record(c, 'room-message') };

  a.emit('to-room', 'r2', 'from a');
  await untilCount(got.b, 1, 'b');
  assert.deepEqual(got.b[0], [a.id, 'from a']);

  // sentinel for a (sender): c sends to lobby, which a is in
  c.emit('to-room', 'lobby', 'sentinel-for-a');
  await untilCount(got.a, 1, 'a');
  // sentinel for c: b sends to lobby (b is not a member, which is allowed)
  b.emit('to-room', 'lobby', 'sentinel-for-c');
  await until(() => got.a.length >= 2 && got.c.length >= 1, 'the lobby sentinels');
  assert.deepEqual(got.a, [[c.id, 'sentinel-for-a'], [b.id, 'sentinel-for-c']], 'the sender did not hear its own message');
  assert.deepEqual(got.c, [[b.id, 'sentinel-for-c']], 'c (not in r2) heard nothing else');
  assert.deepEqual(got.b, [[a.id, 'from a']]);
  for (const s of [a, b, c]) s.disconnect();
});

test('after leave, a socket no longer hears the room', { timeout: TEST_TIMEOUT }, async () => {
  const [a, b] = await labClients(2, 'rooms3');
  await join(a, 'r3');
  await join(b, 'r3');
  await join(b, 'stay');
  const gotB = record(b, 'room-message');
  a.emit('to-room', 'r3', 'one');
  await untilCount(gotB, 1, 'b');
  await ack(b, 'leave', 'r3');
  a.emit('to-room', 'r3', 'two');
  a.emit('to-room', 'stay', 'sentinel');
  await untilCount(gotB, 2, 'b');
  assert.deepEqual(gotB, [[a.id, 'one'], [a.id, 'sentinel']]);
  a.disconnect();
  b.disconnect();
});

test('to-room-except reaches members of room that are not in exceptRoom, sender included', { timeout: TEST_TIMEOUT }, async () => {
  const [a, b, c, d] = await labClients(4, 'except');
  for (const s of [a, b, c]) await join(s, 'everyone');
  await join(b, 'vip');
  await join(d, 'vip'); // d: in vip but not in everyone
  for (const s of [a, b, c, d]) await join(s, 'all');
  const got = {
    a: record(a, 'room-message'), b: record(b, 'room-message'),
    c: record(c, 'room-message'), d: record(d, 'room-message'),
  };

  a.emit('to-room-except', 'everyone', 'vip', 'not for vips', { k: 'v' });
  await untilCount(got.a, 1, 'a (the sender qualifies)');
  await untilCount(got.c, 1, 'c');
  assert.deepEqual(got.a[0], [a.id, 'not for vips', { k: 'v' }]);
  assert.deepEqual(got.c[0], [a.id, 'not for vips', { k: 'v' }]);

  // sentinel to everyone in "all" except the sender c
  c.emit('to-room', 'all', 'sentinel');
  await until(() => got.b.length >= 1 && got.d.length >= 1 && got.a.length >= 2, 'the sentinel');
  assert.deepEqual(got.b, [[c.id, 'sentinel']], 'b (in exceptRoom) did not hear it');
  assert.deepEqual(got.d, [[c.id, 'sentinel']], 'd (not in room) did not hear it');
  assert.deepEqual(got.a, [[a.id, 'not for vips', { k: 'v' }], [c.id, 'sentinel']]);
  assert.deepEqual(got.c, [[a.id, 'not for vips', { k: 'v' }]]);
  for (const s of [a, b, c, d]) s.disconnect();
});

test('to-room-except excludes the sender when it is in exceptRoom', { timeout: TEST_TIMEOUT }, async () => {
  const [a, b] = await labClients(2, 'except2');
  await join(a, 'room');
  await join(b, 'room');
  await join(a, 'muted');
  await join(b, 'side');
  const got = { a: record(a, 'room-message'), b: record(b, 'room-message') };
  a.emit('to-room-except', 'room', 'muted', 'x');
  await untilCount(got.b, 1, 'b');
  b.emit('to-room', 'room', 'sentinel');
  await untilCount(got.a, 1, 'a');
  assert.deepEqual(got.a, [[b.id, 'sentinel']]);
  assert.deepEqual(got.b, [[a.id, 'x']]);
  a.disconnect();
  b.disconnect();
});

test('a room broadcast reaches a member connected on a different transport', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({ sub: 'u-mixed', name: 'Mixed' });
  const poller = await connect('/lab', { auth: { token }, transports: ['polling'] });
  const wsOnly = await connect('/lab', { auth: { token }, transports: ['websocket'] });
  await join(poller, 'mixed');
  await join(wsOnly, 'mixed');
  const gotP = record(poller, 'room-message');
  const gotW = record(wsOnly, 'room-message');
  wsOnly.emit('to-room', 'mixed', 'to the poller');
  poller.emit('to-room', 'mixed', 'to the websocket');
  await untilCount(gotP, 1, 'poller');
  await untilCount(gotW, 1, 'websocket client');
  assert.deepEqual(gotP, [[wsOnly.id, 'to the poller']]);
  assert.deepEqual(gotW, [[poller.id, 'to the websocket']]);
  poller.disconnect();
  wsOnly.disconnect();
});
