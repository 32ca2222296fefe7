// Study-groups app: malformed input on the socket (payload shapes, unknown events) and over
// REST (bodies that are not JSON or not objects, ids that are not ids). Every refusal must leave
// the connection usable and answer with the documented error shapes.
// Contract: docs/study-groups.md "Client events", "REST".
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { STATUS_CODES } from 'node:http';
import {
  PREFIXES,
  T,
  V1,
  api,
  assertAckError,
  classroom,
  expectError,
  expectStatus,
  postChat,
  randomUUID,
  sgConnect,
  sgJoined,
  suite,
} from './study-groups-helpers.js';

suite('study-groups bad input: socket events', () => {
  let ctx;
  before(async () => {
    ctx = await classroom();
  });

  test('malformed joinSession payloads → INVALID_MESSAGE acks; the connection stays usable', { timeout: T }, async () => {
    const c = await sgConnect(ctx.member);
    const bad = [
      ['a number', [42]],
      ['null', [null]],
      ['nothing', []],
      ['an empty object', [{}]],
      ['a numeric sessionId', [{ sessionId: 5 }]],
      ['a null sessionId', [{ sessionId: null }]],
      ['an object sessionId', [{ sessionId: { id: ctx.sid } }]],
      ['an array', [[ctx.sid]]],
      ['a boolean', [true]],
      ['an empty string', ['']],
      ['an empty sessionId', [{ sessionId: '' }]],
    ];
    for (const [what, args] of bad) {
      assertAckError(await c.ack('joinSession', ...args), 'INVALID_MESSAGE', `joinSession with ${what}`);
      assert.ok(c.connected, `still connected after ${what}`);
    }
    const res = await c.join(ctx.sid);
    assert.equal(res.message, `Joined session ${ctx.sid}`);
  });

  test('malformed leaveSession, typing and chat.read payloads → INVALID_MESSAGE', { timeout: T }, async () => {
    const c = await sgJoined(ctx.member, ctx.sid);
    for (const event of ['leaveSession', 'typing', 'chat.read']) {
      for (const [what, args] of [
        ['a number', [42]],
        ['null', [null]],
        ['nothing', []],
        ['a numeric sessionId', [{ sessionId: 5, messageId: randomUUID() }]],
      ]) {
        assertAckError(await c.ack(event, ...args), 'INVALID_MESSAGE', `${event} with ${what}`);
      }
    }
    assertAckError(await c.ack('typing', { sessionId: ctx.sid, isTyping: 'yes' }), 'INVALID_MESSAGE', 'isTyping not a boolean');
    // still in the session, still usable
    const text = `still here ${randomUUID()}`;
    expectStatus(await postChat(ctx.owner, ctx.gid, ctx.sid, text), 201);
    await c.take('chat.message', (d) => d.message === text);
  });

  test('an unknown event with an ack → UNKNOWN_EVENT; without an ack it is ignored and the socket stays', { timeout: T }, async () => {
    const c = await sgJoined(ctx.member, ctx.sid);
    const mark = c.mark();
    assertAckError(await c.ack('noSuchEvent', { sessionId: ctx.sid }), 'UNKNOWN_EVENT', 'noSuchEvent');
    assertAckError(await c.ack('joinsession', { sessionId: ctx.sid }), 'UNKNOWN_EVENT', 'wrong case');
    assertAckError(await c.ack('userJoined', { sessionId: ctx.sid }), 'UNKNOWN_EVENT', 'a server event name');
    c.emit('noSuchEvent', { sessionId: ctx.sid });
    c.emit('anotherOne');
    const res = await c.ack('leaveSession', { sessionId: ctx.sid });
    assert.equal(res?.success, true, JSON.stringify(res));
    assert.ok(c.connected);
    c.quiet(mark, 'unknown events are not answered with events');
  });

  test('a flood of malformed events does not disconnect the socket nor affect others', { timeout: T }, async () => {
    const watcher = await sgJoined(ctx.fac, ctx.sid);
    const c = await sgConnect(ctx.member);
    const acks = [];
    for (let i = 0; i < 30; i++) acks.push(c.ack('joinSession', i));
    for (const a of await Promise.all(acks)) assertAckError(a, 'INVALID_MESSAGE');
    await c.join(ctx.sid);
    await watcher.take('userJoined', (d) => d.userId === ctx.member.id);
  });
});

suite('study-groups bad input: REST bodies and ids', () => {
  let ctx;
  before(async () => {
    ctx = await classroom({ start: true, attend: ['member'] });
  });

  const bodyRoutes = () => [
    ['POST', '/groups'],
    ['POST', `/groups/${ctx.gid}/members`],
    ['POST', `/groups/${ctx.gid}/sessions`],
    ['POST', `/group-sessions/${ctx.sid}/rounds/1/advance`],
    ['PATCH', `/group-sessions/${ctx.sid}/rounds/1/prompt`],
    ['PUT', `/group-sessions/${ctx.sid}/rounds/1/prompt`],
    ['POST', `/group-sessions/${ctx.sid}/events`],
    ['POST', `/groups/${ctx.gid}/sessions/${ctx.sid}/chat`],
    ['POST', `/groups/sessions/${ctx.sid}/chat`],
    ['PUT', `/group-sessions/${ctx.sid}/status`],
  ];

  for (const prefix of PREFIXES) {
    test(`invalid JSON bodies → 400 {statusCode, message, error} on every route taking a body${prefix ? ` under ${prefix}` : ' (no prefix)'}`, { timeout: T }, async () => {
      for (const [method, path] of bodyRoutes()) {
        for (const raw of ['{"name": ', '{bad json}', 'not json at all']) {
          expectError(await api(method, prefix + path, { as: ctx.owner, raw }), 400, `${method} ${path} with ${raw}`);
        }
      }
    });
  }

  test('JSON bodies that are not objects → 400', { timeout: T }, async () => {
    for (const [method, path] of bodyRoutes()) {
      for (const raw of ['[]', '"text"', '42', 'null']) {
        expectError(await api(method, V1 + path, { as: ctx.owner, raw }), 400, `${method} ${path} with ${raw}`);
      }
    }
  });

  test('the refused bodies changed nothing', { timeout: T }, async () => {
    const s = expectStatus(await api('GET', `${V1}/group-sessions/${ctx.sid}`, { as: ctx.owner }), 200);
    assert.equal(s.status, 'RUNNING');
    assert.deepEqual(
      s.rounds.map((r) => [r.prompt, r.status]),
      [
        ['Question 1', 'VOTING'],
        ['Question 2', 'VOTING'],
      ],
    );
    const ev = expectStatus(await api('GET', `${V1}/group-sessions/${ctx.sid}/events`, { as: ctx.owner }), 200);
    assert.deepEqual(ev, []);
    const chat = expectStatus(await api('GET', `${V1}/groups/sessions/${ctx.sid}/chat`, { as: ctx.owner }), 200);
    assert.deepEqual(chat, []);
  });

  test('ids that are not UUIDs and round numbers that are not numbers → 400 or 404 with the error body (never 500)', { timeout: T }, async () => {
    const calls = [
      ['GET', '/groups/not-a-uuid'],
      ['GET', '/group-sessions/not-a-uuid'],
      ['POST', '/group-sessions/not-a-uuid/join'],
      ['GET', '/groups/not-a-uuid/sessions'],
      ['GET', `/groups/${ctx.gid}/sessions/not-a-uuid/chat`],
      ['POST', `/group-sessions/${ctx.sid}/rounds/abc/advance`, { to_status: 'DISCUSSING' }],
      ['PATCH', `/group-sessions/${ctx.sid}/rounds/-1/prompt`, { prompt: 'x' }],
      ['PATCH', `/group-sessions/${ctx.sid}/rounds/99999999999999999999/prompt`, { prompt: 'x' }],
      ['GET', `/group-sessions/${ctx.sid}/events?round_index=abc`],
    ];
    for (const [method, path, body] of calls) {
      const res = await api(method, V1 + path, { as: ctx.owner, body });
      assert.ok([400, 404].includes(res.status), `${method} ${path} → ${res.status} ${res.text}`);
      expectError(res, res.status, `${method} ${path}`);
    }
  });

  test('an unknown route under /api/v1 is a 404, not a crash', { timeout: T }, async () => {
    const res = await api('GET', `${V1}/group-sessions/${ctx.sid}/nothing-here`, { as: ctx.owner });
    assert.equal(res.status, 404, res.text);
    assert.ok(STATUS_CODES[res.status]);
  });
});
