// Plain WebSocket JSON lab at /ws/lab/event (envelope {event, data}) and
// /ws/lab/type (envelope {type, data}): echo, ping, join, broadcast, and
// error replies that keep the connection open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LabWs, waitClose, TEST_TIMEOUT } from './helpers.js';

function assertError(lab, msg, code) {
  assert.equal(lab.nameOf(msg), 'error', `expected an error reply, got ${JSON.stringify(msg)}`);
  assert.equal(msg.data?.code, code, `error code in ${JSON.stringify(msg)}`);
  assert.equal(typeof msg.data.message, 'string', 'error message is a string');
  assert.ok(msg.data.message.length > 0, 'error message is not empty');
}

for (const key of ['event', 'type']) {
  const where = `/ws/lab/${key}`;

  test(`${where}: echo returns the same data`, { timeout: TEST_TIMEOUT }, async () => {
    const lab = await LabWs.open(key);
    for (const data of ['text', 0, 12.5, true, false, '', [1, 'two', { three: 3 }], { nested: { a: [null, false] } }, 'ünïcödé ✓ 🚀']) {
      assert.deepEqual(await lab.request('echo', data), { [key]: 'echo', data });
    }
    // data: null may come back as null or as an envelope without data (like {event: "pong"})
    const reply = await lab.request('echo', null);
    assert.equal(lab.nameOf(reply), 'echo');
    assert.equal(reply.data ?? null, null, `got ${JSON.stringify(reply)}`);
    lab.close();
  });

  test(`${where}: ping is answered with pong`, { timeout: TEST_TIMEOUT }, async () => {
    const lab = await LabWs.open(key);
    const pong = await lab.request('ping');
    assert.equal(lab.nameOf(pong), 'pong', `got ${JSON.stringify(pong)}`);
    for (const k of Object.keys(pong)) assert.ok([key, 'data'].includes(k), `unexpected field "${k}" in ${JSON.stringify(pong)}`);
    lab.close();
  });

  test(`${where}: replies keep the order of requests`, { timeout: TEST_TIMEOUT }, async () => {
    const lab = await LabWs.open(key);
    for (let i = 0; i < 30; i++) lab.send('echo', i);
    for (let i = 0; i < 30; i++) assert.deepEqual(await lab.next(), { [key]: 'echo', data: i });
    lab.close();
  });

  test(`${where}: invalid JSON gets INVALID_MESSAGE and the connection stays open`, { timeout: TEST_TIMEOUT }, async () => {
    const lab = await LabWs.open(key);
    lab.sendRaw('{"oops": ');
    assertError(lab, await lab.next(), 'INVALID_MESSAGE');
    lab.sendRaw('not json at all');
    assertError(lab, await lab.next(), 'INVALID_MESSAGE');
    await lab.ping();
    assert.equal(lab.ws.readyState, lab.ws.OPEN);
    lab.close();
  });

  test(`${where}: an unknown event gets UNKNOWN_EVENT and the connection stays open`, { timeout: TEST_TIMEOUT }, async () => {
    const lab = await LabWs.open(key);
    lab.send('no-such-event', { x: 1 });
    assertError(lab, await lab.next(), 'UNKNOWN_EVENT');
    await lab.ping();
    assert.deepEqual(await lab.request('echo', 'after'), { [key]: 'echo', data: 'after' });
    lab.close();
  });

  test(`${where}: a message over 64 KiB gets MESSAGE_TOO_LARGE and the connection stays open`, { timeout: TEST_TIMEOUT }, async () => {
    const lab = await LabWs.open(key);
    // well under the limit: served normally
    const fine = 'a'.repeat(16 * 1024);
    assert.deepEqual(await lab.request('echo', fine), { [key]: 'echo', data: fine });
    // well over the limit
    lab.send('echo', 'b'.repeat(100 * 1024));
    assertError(lab, await lab.next(), 'MESSAGE_TOO_LARGE');
    await lab.ping();
    assert.deepEqual(await lab.request('echo', 'small'), { [key]: 'echo', data: 'small' });
    lab.close();
  });

  test(`${where}: join answers joined with the member count`, { timeout: TEST_TIMEOUT }, async () => {
    const room = `count-${key}`;
    const a = await LabWs.open(key);
    const b = await LabWs.open(key);
    assert.deepEqual(await a.request('join', { room }), { [key]: 'joined', data: { room, members: 1 } });
    assert.deepEqual(await b.request('join', { room }), { [key]: 'joined', data: { room, members: 2 } });
    a.close();
    b.close();
  });

  test(`${where}: broadcast reaches the other members of the room only`, { timeout: TEST_TIMEOUT }, async () => {
    const room = `bc-${key}`;
    const lobby = `lobby-${key}`;
    const [a, b, c] = await Promise.all([LabWs.open(key), LabWs.open(key), LabWs.open(key)]);
    for (const lab of [a, b]) assert.equal(lab.nameOf(await lab.request('join', { room })), 'joined');
    for (const lab of [a, b, c]) assert.equal(lab.nameOf(await lab.request('join', { room: lobby })), 'joined');

    const payload = { text: 'hi room', n: [1, 2, 3] };
    a.send('broadcast', { room, payload });
    assert.deepEqual(await b.next(), { [key]: 'broadcast', data: { room, payload } });

    // the sender got nothing: its next message is the reply to a later ping
    await a.ping();
    // c (not in the room) got nothing: its next message is a later lobby broadcast
    a.send('broadcast', { room: lobby, payload: 'sentinel' });
    assert.deepEqual(await c.next(), { [key]: 'broadcast', data: { room: lobby, payload: 'sentinel' } });
    assert.deepEqual(await b.next(), { [key]: 'broadcast', data: { room: lobby, payload: 'sentinel' } });
    for (const lab of [a, b, c]) lab.close();
  });

  test(`${where}: a closed member no longer receives and does not break the room`, { timeout: TEST_TIMEOUT }, async () => {
    const room = `leave-${key}`;
    const [a, b, c] = await Promise.all([LabWs.open(key), LabWs.open(key), LabWs.open(key)]);
    for (const lab of [a, b, c]) await lab.request('join', { room });
    c.close();
    await waitClose(c.ws);
    a.send('broadcast', { room, payload: 'after c left' });
    assert.deepEqual(await b.next(), { [key]: 'broadcast', data: { room, payload: 'after c left' } });
    await a.ping();
    a.close();
    b.close();
  });
}

test('the two envelope forms do not mix: /ws/lab/type answers with "type", not "event"', { timeout: TEST_TIMEOUT }, async () => {
  const lab = await LabWs.open('type');
  const reply = await lab.request('echo', 1);
  assert.deepEqual(reply, { type: 'echo', data: 1 });
  lab.close();
});
