// Acknowledgements both ways.
// client -> server: `message-with-ack` on / and `echo` on /lab ack with the same args.
// server -> client: `ask` (event, ...args) makes the server emit `event` with an
// ack callback; the client's ack args come back as ack({ answer: [...] }) to
// the original `ask`, or ack({ error: "timeout" }) after 5 s without an answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, labClient, ack, ackWithin, record, TEST_TIMEOUT } from './helpers.js';

test('client -> server: message-with-ack on / is acked with the same args', { timeout: TEST_TIMEOUT }, async () => {
  const socket = await connect('/');
  assert.deepEqual(await ack(socket, 'message-with-ack', 'a', 1, { b: [2, 3] }), ['a', 1, { b: [2, 3] }]);
  socket.disconnect();
});

test('client -> server: echo on /lab is acked with the same args', { timeout: TEST_TIMEOUT }, async () => {
  const socket = await labClient({ sub: 'u-echo' });
  assert.deepEqual(await ack(socket, 'echo', 'x', 0, -1.25, true, null, { deep: { er: ['st'] } }), ['x', 0, -1.25, true, null, { deep: { er: ['st'] } }]);
  assert.deepEqual(await ack(socket, 'echo'), []);
  socket.disconnect();
});

test('client -> server: concurrent acks are matched to the right emits', { timeout: TEST_TIMEOUT }, async () => {
  const socket = await labClient({ sub: 'u-many-acks' });
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => ack(socket, 'echo', i, `s${i}`)));
  results.forEach((res, i) => assert.deepEqual(res, [i, `s${i}`]));
  socket.disconnect();
});

test('server -> client: ask emits the event with an ack; the client answer comes back to the asker', { timeout: TEST_TIMEOUT }, async () => {
  const socket = await labClient({ sub: 'u-ask' });
  const questions = [];
  socket.on('question', (...args) => {
    const callback = args.pop();
    assert.equal(typeof callback, 'function', 'the server asked for an ack');
    questions.push(args);
    callback('answer', 42, { why: args });
  });
  const [res] = await ack(socket, 'ask', 'question', 'what?', { n: 1 });
  assert.deepEqual(questions, [['what?', { n: 1 }]]);
  assert.deepEqual(res, { answer: ['answer', 42, { why: ['what?', { n: 1 }] }] });
  socket.disconnect();
});

test('server -> client: an ack with no args comes back as an empty answer', { timeout: TEST_TIMEOUT }, async () => {
  const socket = await labClient({ sub: 'u-ask-empty' });
  socket.on('ping-me', (callback) => callback());
  const [res] = await ack(socket, 'ask', 'ping-me');
  assert.deepEqual(res, { answer: [] });
  socket.disconnect();
});

test('server -> client: several asks in flight are answered independently', { timeout: TEST_TIMEOUT }, async () => {
  const socket = await labClient({ sub: 'u-ask-many' });
  // answer in reverse order of arrival
  const pending = [];
  socket.on('q', (i, callback) => {
    pending.push(() => callback(i * 10));
    if (pending.length === 5) for (const answer of pending.reverse()) answer();
  });
  const results = await Promise.all([0, 1, 2, 3, 4].map((i) => ack(socket, 'ask', 'q', i)));
  assert.deepEqual(results, [0, 1, 2, 3, 4].map((i) => [{ answer: [i * 10] }]));
  socket.disconnect();
});

test('server -> client: without an answer the ask is acked with { error: "timeout" } after ~5 s', { timeout: TEST_TIMEOUT }, async () => {
  const socket = await labClient({ sub: 'u-ask-timeout' });
  const silent = record(socket, 'silent'); // receives the question, never calls the ack
  const started = Date.now();
  const [res] = await ackWithin(9000, socket, 'ask', 'silent', 'anyone?');
  const elapsed = Date.now() - started;
  assert.deepEqual(res, { error: 'timeout' });
  assert.ok(elapsed >= 4500, `timed out after ${elapsed} ms, expected about 5000`);
  assert.equal(silent.length, 1, 'the client did receive the question');
  assert.equal(silent[0][0], 'anyone?');
  assert.equal(typeof silent[0].at(-1), 'function');
  // the socket is still fine afterwards
  assert.deepEqual(await ack(socket, 'echo', 'ok'), ['ok']);
  socket.disconnect();
});

test('server -> client: a late answer after the timeout is ignored and does not break the socket', { timeout: TEST_TIMEOUT }, async () => {
  const socket = await labClient({ sub: 'u-ask-late' });
  let lateCallback;
  socket.on('slow', (callback) => { lateCallback = callback; });
  const [res] = await ackWithin(9000, socket, 'ask', 'slow');
  assert.deepEqual(res, { error: 'timeout' });
  lateCallback('too late');
  assert.deepEqual(await ack(socket, 'echo', 'still ok'), ['still ok']);
  socket.disconnect();
});
