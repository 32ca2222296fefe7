// Study-groups app: the socket side — joinSession / leaveSession, presence (userJoined,
// userLeft, display names), disconnects, room isolation, typing, and the common event shape.
// Contract: docs/study-groups.md "Socket.IO".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NSP_V1,
  T,
  V1,
  addMember,
  advance,
  api,
  assertAckError,
  assertEventShape,
  assertFields,
  attendSession,
  classroom,
  createSession,
  expectStatus,
  mintJwt,
  newUser,
  postChat,
  randomUUID,
  remember,
  sgConnect,
  sgJoined,
  signJwt,
  startSession,
  submit,
  suite,
  tokenFor,
} from './study-groups-helpers.js';

/** Post a chat message as `by` and wait until every client of `seen` received it. */
async function chatMarker(ctx, by, seen, sid = ctx.sid) {
  const text = `marker ${randomUUID()}`;
  expectStatus(await postChat(by, ctx.gid, sid, text), 201);
  for (const c of seen) await c.take('chat.message', (d) => d.message === text);
  return text;
}

suite('study-groups sockets: joinSession and leaveSession', () => {
  test('joinSession → ack {success, message "Joined session <id>", sessionId}; others get userJoined, the joiner does not', { timeout: T }, async () => {
    const ctx = await classroom();
    const first = await sgJoined(ctx.fac, ctx.sid);
    const joiner = await sgConnect(ctx.member);
    const res = await joiner.ack('joinSession', { sessionId: ctx.sid });
    assertFields(res, { success: true, message: `Joined session ${ctx.sid}`, sessionId: ctx.sid });
    const ev = await first.take('userJoined', (d) => d.userId === ctx.member.id);
    assertFields(
      ev,
      { sessionId: ctx.sid, userId: ctx.member.id, userName: ctx.member.name, timestamp: undefined },
    );
    // marker: a third socket joins; the joiner hears about it, and never about itself
    await sgJoined(ctx.scribe, ctx.sid);
    await joiner.take('userJoined', (d) => d.userId === ctx.scribe.id);
    joiner.none(0, 'userJoined', 'about itself', (d) => d.userId === ctx.member.id);
  });

  test('a bare session id string is accepted as the joinSession payload', { timeout: T }, async () => {
    const ctx = await classroom();
    const watcher = await sgJoined(ctx.fac, ctx.sid);
    const c = await sgConnect(ctx.member);
    const res = await c.ack('joinSession', ctx.sid);
    assert.equal(res?.success, true, JSON.stringify(res));
    assert.equal(res.message, `Joined session ${ctx.sid}`);
    await watcher.take('userJoined', (d) => d.userId === ctx.member.id);
    await chatMarker(ctx, ctx.owner, [c]);
  });

  test('joining again acks "Already in session <id>" without a second userJoined', { timeout: T }, async () => {
    const ctx = await classroom();
    const watcher = await sgJoined(ctx.fac, ctx.sid);
    const c = await sgJoined(ctx.member, ctx.sid);
    await watcher.take('userJoined', (d) => d.userId === ctx.member.id);
    const mark = watcher.mark();
    const res = await c.ack('joinSession', { sessionId: ctx.sid });
    assertFields(res, { success: true, message: `Already in session ${ctx.sid}`, sessionId: ctx.sid });
    await chatMarker(ctx, ctx.owner, [watcher, c]);
    watcher.none(mark, 'userJoined', 'second join of the same socket');
  });

  test('leaveSession → ack "Left session <id>"; others get userLeft; the leaver gets nothing more', { timeout: T }, async () => {
    const ctx = await classroom();
    const watcher = await sgJoined(ctx.fac, ctx.sid);
    const c = await sgJoined(ctx.member, ctx.sid);
    await watcher.take('userJoined', (d) => d.userId === ctx.member.id);
    const res = await c.ack('leaveSession', { sessionId: ctx.sid });
    assertFields(res, { success: true, message: `Left session ${ctx.sid}`, sessionId: ctx.sid });
    const ev = await watcher.take('userLeft', (d) => d.userId === ctx.member.id);
    assertFields(
      ev,
      { sessionId: ctx.sid, userId: ctx.member.id, userName: ctx.member.name, timestamp: undefined },
    );
    const mark = c.mark();
    await chatMarker(ctx, ctx.owner, [watcher]);
    expectStatus(await api('PATCH', `${V1}/group-sessions/${ctx.sid}/rounds/1/prompt`, { as: ctx.fac, body: { prompt: 'P?' } }), 200);
    await watcher.take('prompt.updated');
    await c.sync();
    c.quiet(mark, 'after leaving');
  });

  test('leaving a session the socket is not in acks "Not in session <id>" and tells no one', { timeout: T }, async () => {
    const ctx = await classroom();
    const watcher = await sgJoined(ctx.fac, ctx.sid);
    const c = await sgConnect(ctx.member);
    const mark = watcher.mark();
    const res = await c.ack('leaveSession', { sessionId: ctx.sid });
    assertFields(res, { success: true, message: `Not in session ${ctx.sid}`, sessionId: ctx.sid });
    // and after a join + leave, a second leave
    await c.join(ctx.sid);
    await c.leave(ctx.sid);
    await watcher.take('userLeft', (d) => d.userId === ctx.member.id);
    const res2 = await c.ack('leaveSession', { sessionId: ctx.sid });
    assert.equal(res2.message, `Not in session ${ctx.sid}`);
    await chatMarker(ctx, ctx.owner, [watcher]);
    assert.equal(watcher.since(mark).filter((m) => m.event === 'userLeft').length, 1, `one userLeft only:\n    ${watcher.history(mark)}`);
  });

  test('SESSION_NOT_FOUND for joinSession and leaveSession of an unknown session; the socket stays usable', { timeout: T }, async () => {
    const ctx = await classroom();
    const c = await sgConnect(ctx.member);
    const unknown = randomUUID();
    assertAckError(await c.ack('joinSession', { sessionId: unknown }), 'SESSION_NOT_FOUND', 'join');
    assertAckError(await c.ack('leaveSession', { sessionId: unknown }), 'SESSION_NOT_FOUND', 'leave');
    await c.join(ctx.sid);
    assert.ok(c.connected);
  });

  test("FORBIDDEN for a user outside the session's group, who then receives none of its events", { timeout: T }, async () => {
    const ctx = await classroom();
    const other = await classroom(); // other.owner is a member of another group only
    const insider = await sgJoined(ctx.member, ctx.sid);
    for (const u of [ctx.outsider, other.owner]) {
      const c = await sgConnect(u);
      assertAckError(await c.ack('joinSession', { sessionId: ctx.sid }), 'FORBIDDEN', u.label);
      const mark = c.mark();
      // events of every kind in the session
      await sgJoined(ctx.scribe, ctx.sid).then((s) => s.close());
      await startSession(ctx.fac, ctx.sid).catch(() => {}); // only the first round starts it
      await attendSession(ctx.fac, ctx.sid);
      expectStatus(await api('PATCH', `${V1}/group-sessions/${ctx.sid}/rounds/1/prompt`, { as: ctx.fac, body: { prompt: `P ${u.label}` } }), 200);
      const typer = await sgJoined(ctx.fac, ctx.sid);
      const typed = await typer.ack('typing', { sessionId: ctx.sid });
      assert.equal(typed?.success, true, JSON.stringify(typed));
      await insider.take('typing', (d) => d.userId === ctx.fac.id);
      await insider.take('prompt.updated', (d) => d.prompt === `P ${u.label}`);
      await chatMarker(ctx, ctx.owner, [insider]);
      typer.close();
      await c.sync();
      c.quiet(mark, 'refused join');
      // and it cannot type or read there either
      assertAckError(await c.ack('typing', { sessionId: ctx.sid }), 'FORBIDDEN', 'typing');
    }
  });
});

suite('study-groups sockets: display names', () => {
  test('userName is the token name; a later token without name shows the stored name', { timeout: T }, async () => {
    const ctx = await classroom();
    const watcher = await sgJoined(ctx.fac, ctx.sid);
    const user = await newUser('Named', { name: 'Named Person' });
    await addMember(ctx.owner, ctx.gid, user);
    // first connection with a name: remembered
    const c1 = await sgJoined(user, ctx.sid);
    assert.equal((await watcher.take('userJoined', (d) => d.userId === user.id)).userName, 'Named Person');
    c1.close();
    await watcher.take('userLeft', (d) => d.userId === user.id);
    // a real login token: sub and email only
    const bare = await tokenFor(user, { email: user.email });
    const c2 = await sgJoined(null, ctx.sid, { token: bare, label: 'nameless' });
    const ev = await watcher.take('userJoined', (d) => d.userId === user.id);
    assert.equal(ev.userName, 'Named Person', 'the stored name, not the email');
    // REST-caused events too
    const msg = expectStatus(await postChat({ token: bare }, ctx.gid, ctx.sid, 'hello'), 201);
    assert.equal(msg.userName, 'Named Person');
    assert.equal((await watcher.take('chat.message', (d) => d.id === msg.id)).userName, 'Named Person');
    const typing = c2.ack('typing', { sessionId: ctx.sid });
    assert.equal((await typing)?.success, true);
    assert.equal((await watcher.take('typing', (d) => d.userId === user.id)).userName, 'Named Person');
  });

  test('a name seen over REST only is remembered for sockets too; a newer name replaces it', { timeout: T }, async () => {
    const ctx = await classroom();
    const watcher = await sgJoined(ctx.fac, ctx.sid);
    const id = randomUUID();
    const first = await mintJwt({ sub: id, name: 'First Name', email: `r-${id.slice(0, 6)}@example.test` });
    await remember({ token: first, label: 'rest only' });
    await addMember(ctx.owner, ctx.gid, id);
    const bare = await mintJwt({ sub: id, email: `r-${id.slice(0, 6)}@example.test` });
    const c1 = await sgJoined(null, ctx.sid, { token: bare, label: 'bare 1' });
    assert.equal((await watcher.take('userJoined', (d) => d.userId === id)).userName, 'First Name');
    c1.close();
    await watcher.take('userLeft', (d) => d.userId === id);
    const renamed = await mintJwt({ sub: id, name: 'Second Name', email: `r-${id.slice(0, 6)}@example.test` });
    const c2 = await sgJoined(null, ctx.sid, { token: renamed, label: 'renamed' });
    assert.equal((await watcher.take('userJoined', (d) => d.userId === id)).userName, 'Second Name');
    c2.close();
    await watcher.take('userLeft', (d) => d.userId === id);
    const c3 = await sgJoined(null, ctx.sid, { token: bare, label: 'bare 2' });
    assert.equal((await watcher.take('userJoined', (d) => d.userId === id)).userName, 'Second Name');
    c3.close();
  });

  test('no name ever: userName is the email; no name nor email: the user id', { timeout: T }, async () => {
    const ctx = await classroom();
    const watcher = await sgJoined(ctx.fac, ctx.sid);
    const mailOnly = await newUser('Mail', { noName: true });
    await addMember(ctx.owner, ctx.gid, mailOnly);
    await sgJoined(mailOnly, ctx.sid);
    assert.equal((await watcher.take('userJoined', (d) => d.userId === mailOnly.id)).userName, mailOnly.email);

    const id = randomUUID();
    const anon = { id, token: signJwt({ sub: id }), label: 'anon' };
    await addMember(ctx.owner, ctx.gid, id);
    await sgJoined(anon, ctx.sid);
    assert.equal((await watcher.take('userJoined', (d) => d.userId === id)).userName, id);

    // and in the group's member list
    const g = expectStatus(await api('GET', `${V1}/groups/${ctx.gid}`, { as: ctx.owner }), 200);
    assert.equal(g.members.find((m) => m.userId === mailOnly.id).userName, mailOnly.email);
  });
});

suite('study-groups sockets: disconnects and tabs', () => {
  test('socket.disconnect() without leaving → userLeft to each session it was in', { timeout: T }, async () => {
    const ctx = await classroom();
    const s2 = await createSession(ctx.owner, ctx.gid, { title: 'Second' });
    const w1 = await sgJoined(ctx.fac, ctx.sid);
    const w2 = await sgJoined(ctx.fac, s2.id);
    const c = await sgJoined(ctx.member, ctx.sid);
    await c.join(s2.id);
    await w1.take('userJoined', (d) => d.userId === ctx.member.id);
    await w2.take('userJoined', (d) => d.userId === ctx.member.id);
    c.socket.disconnect();
    const l1 = await w1.take('userLeft', (d) => d.userId === ctx.member.id);
    assert.equal(l1.sessionId, ctx.sid);
    assert.equal(l1.userName, ctx.member.name);
    const l2 = await w2.take('userLeft', (d) => d.userId === ctx.member.id);
    assert.equal(l2.sessionId, s2.id);
  });

  test('an abrupt close (TCP dropped, no close frame) → userLeft', { timeout: T }, async () => {
    const ctx = await classroom();
    const watcher = await sgJoined(ctx.fac, ctx.sid);
    const c = await sgJoined(ctx.member, ctx.sid, { transports: ['websocket'] });
    await watcher.take('userJoined', (d) => d.userId === ctx.member.id);
    c.terminate();
    const ev = await watcher.take('userLeft', (d) => d.userId === ctx.member.id);
    assert.equal(ev.sessionId, ctx.sid);
    assert.equal(ev.userName, ctx.member.name);
  });

  test('closing the polling transport (default transports, no upgrade) → userLeft', { timeout: T }, async () => {
    const ctx = await classroom();
    const watcher = await sgJoined(ctx.fac, ctx.sid);
    const c = await sgJoined(ctx.member, ctx.sid, { transports: ['polling'] });
    await watcher.take('userJoined', (d) => d.userId === ctx.member.id);
    c.socket.io.engine.close();
    await watcher.take('userLeft', (d) => d.userId === ctx.member.id);
  });

  test('presence is per socket: two tabs are announced twice and leave twice', { timeout: T }, async () => {
    const ctx = await classroom();
    const watcher = await sgJoined(ctx.fac, ctx.sid);
    const tab1 = await sgJoined(ctx.member, ctx.sid);
    const tab2 = await sgJoined(ctx.member, ctx.sid);
    await watcher.take('userJoined', (d) => d.userId === ctx.member.id);
    await watcher.take('userJoined', (d) => d.userId === ctx.member.id);
    // each tab hears about the other
    await tab1.take('userJoined', (d) => d.userId === ctx.member.id);
    tab1.close();
    await watcher.take('userLeft', (d) => d.userId === ctx.member.id);
    // the other tab is still in the session
    await chatMarker(ctx, ctx.owner, [tab2, watcher]);
    await tab2.take('userLeft', (d) => d.userId === ctx.member.id);
    tab2.close();
    await watcher.take('userLeft', (d) => d.userId === ctx.member.id);
  });

  test('after a reconnect the client joins again and is announced again', { timeout: T }, async () => {
    const ctx = await classroom();
    const watcher = await sgJoined(ctx.fac, ctx.sid);
    const c1 = await sgJoined(ctx.member, ctx.sid);
    await watcher.take('userJoined', (d) => d.userId === ctx.member.id);
    c1.close();
    await watcher.take('userLeft', (d) => d.userId === ctx.member.id);
    const c2 = await sgJoined(ctx.member, ctx.sid);
    await watcher.take('userJoined', (d) => d.userId === ctx.member.id);
    await chatMarker(ctx, ctx.owner, [c2]);
  });
});

suite('study-groups sockets: isolation', () => {
  test('two sessions stay isolated: nothing of one reaches a socket that joined only the other', { timeout: T }, async () => {
    const ctx = await classroom();
    const s2 = await createSession(ctx.owner, ctx.gid, { title: 'Other', facilitatorId: ctx.fac.id, scribeId: ctx.scribe.id });
    const in1 = await sgJoined(ctx.member, ctx.sid);
    const in2 = await sgJoined(ctx.scribe, s2.id);
    const mark = in1.mark();

    // everything that can happen in session 2
    const typer = await sgJoined(ctx.fac, s2.id);
    await in2.take('userJoined', (d) => d.userId === ctx.fac.id);
    await typer.ack('typing', { sessionId: s2.id, isTyping: true });
    await in2.take('typing', (d) => d.userId === ctx.fac.id);
    await startSession(ctx.fac, s2.id);
    await in2.take('session.started');
    await attendSession(ctx.scribe, s2.id);
    await in2.take('session.updated', (d) => d.reason === 'ATTENDANCE');
    await submit(ctx.scribe, s2.id, 1, 'PI_VOTE_SUBMIT', { c: 1 });
    await in2.take('vote.submitted');
    // the facilitator's socket joined session 2: it attends, and the vote gate waits for it
    await submit(ctx.fac, s2.id, 1, 'PI_VOTE_SUBMIT', { c: 2 });
    await in2.take('vote.submitted', (d) => d.userId === ctx.fac.id);
    await submit(ctx.scribe, s2.id, 1, 'OTHER_THING', { c: 1 });
    await in2.take('session.updated', (d) => d.reason === 'EVENT');
    expectStatus(await advance(ctx.fac, s2.id, 1, 'DISCUSSING'), 200);
    await in2.take('round.advanced');
    expectStatus(await api('PUT', `${V1}/group-sessions/${s2.id}/rounds/1/prompt`, { as: ctx.fac, body: { prompt: 'two' } }), 200);
    await in2.take('prompt.updated');
    const msg = expectStatus(await postChat(ctx.fac, ctx.gid, s2.id, 'in two'), 201);
    await in2.take('chat.message', (d) => d.id === msg.id);
    await typer.ack('chat.read', { sessionId: s2.id, messageId: msg.id });
    typer.close();
    await in2.take('userLeft', (d) => d.userId === ctx.fac.id);
    expectStatus(await api('POST', `${V1}/group-sessions/${s2.id}/finish`, { as: ctx.fac }), 200);
    await in2.take('session.ended');

    // marker in session 1
    await chatMarker(ctx, ctx.owner, [in1]);
    const leaked = in1.since(mark).filter((m) => m.data?.sessionId !== ctx.sid || m.event !== 'chat.message');
    assert.deepEqual(
      leaked.map((m) => `${m.event} ${JSON.stringify(m.data)}`),
      [],
      'events of session 2 reached a socket of session 1 only',
    );
  });
});

suite('study-groups sockets: typing', () => {
  test('typing is relayed to the other sockets of the session (not to the typist); isTyping defaults to true', { timeout: T }, async () => {
    const ctx = await classroom();
    const typist = await sgJoined(ctx.member, ctx.sid);
    const other = await sgJoined(ctx.fac, ctx.sid, { nsp: NSP_V1 });
    const mark = typist.mark();
    for (const [payload, expected] of [
      [{ sessionId: ctx.sid, isTyping: true }, true],
      [{ sessionId: ctx.sid, isTyping: false }, false],
      [{ sessionId: ctx.sid }, true],
    ]) {
      const res = await typist.ack('typing', payload);
      assert.equal(res?.success, true, JSON.stringify(res));
      const ev = await other.take('typing', (d) => d.userId === ctx.member.id);
      assertFields(
        ev,
        { sessionId: ctx.sid, userId: ctx.member.id, userName: ctx.member.name, isTyping: expected, timestamp: undefined },
      );
    }
    // without an ack callback it is relayed as well
    typist.emit('typing', { sessionId: ctx.sid, isTyping: true });
    await other.take('typing', (d) => d.userId === ctx.member.id && d.isTyping === true);
    await chatMarker(ctx, ctx.owner, [typist]);
    typist.none(mark, 'typing', 'its own typing');
  });

  test('typing: FORBIDDEN when the socket is not in that session; INVALID_MESSAGE without a sessionId', { timeout: T }, async () => {
    const ctx = await classroom();
    const watcher = await sgJoined(ctx.fac, ctx.sid);
    const c = await sgConnect(ctx.member); // a member, but did not joinSession
    const mark = watcher.mark();
    assertAckError(await c.ack('typing', { sessionId: ctx.sid, isTyping: true }), 'FORBIDDEN', 'not joined');
    assertAckError(await c.ack('typing', { isTyping: true }), 'INVALID_MESSAGE', 'no sessionId');
    assertAckError(await c.ack('typing', 42), 'INVALID_MESSAGE', 'a number');
    await chatMarker(ctx, ctx.owner, [watcher]);
    watcher.none(mark, 'typing', 'refused typing');
  });
});

suite('study-groups sockets: the common event shape', () => {
  test('every server event of a whole session has an ISO 8601 UTC timestamp with ms and camelCase fields', { timeout: T * 2 }, async () => {
    const ctx = await classroom();
    const all = await sgJoined(ctx.owner, ctx.sid);
    const fac = await sgJoined(ctx.fac, ctx.sid);
    const mem = await sgJoined(ctx.member, ctx.sid);
    const scribe = await sgJoined(ctx.scribe, ctx.sid);
    await mem.ack('typing', { sessionId: ctx.sid });
    await startSession(ctx.fac, ctx.sid);
    for (const u of [ctx.fac, ctx.scribe, ctx.member]) await attendSession(u, ctx.sid);
    expectStatus(await api('PATCH', `${V1}/group-sessions/${ctx.sid}/rounds/1/prompt`, { as: ctx.fac, body: { prompt: 'Why?' } }), 200);
    // Every socket that joined attends (the owner's too): all four vote and re-vote.
    const voters = [ctx.fac, ctx.scribe, ctx.member, ctx.owner];
    for (const u of voters) await submit(u, ctx.sid, 1, 'PI_VOTE_SUBMIT', { v: 1 });
    expectStatus(await advance(ctx.fac, ctx.sid, 1, 'DISCUSSING'), 200);
    const msg = expectStatus(await postChat(ctx.member, ctx.gid, ctx.sid, 'I think A', 1), 201);
    await mem.take('chat.message', (d) => d.id === msg.id); // wait: the read needs the message
    await fac.ack('chat.read', { sessionId: ctx.sid, messageId: msg.id });
    await submit(ctx.member, ctx.sid, 1, 'DISCUSSION_NOTE', { t: 'x' });
    expectStatus(await advance(ctx.fac, ctx.sid, 1, 'REVOTING'), 200);
    for (const u of voters) await submit(u, ctx.sid, 1, 'PI_REVOTE_SUBMIT', { v: 2 });
    expectStatus(await advance(ctx.fac, ctx.sid, 1, 'EXPLAINING'), 200);
    await submit(ctx.scribe, ctx.sid, 1, 'GROUP_EXPLANATION_SUBMIT', { text: 'card' });
    expectStatus(await advance(ctx.fac, ctx.sid, 1, 'DONE'), 200);
    await mem.leave(ctx.sid);
    scribe.close();
    expectStatus(await api('POST', `${V1}/group-sessions/${ctx.sid}/finish`, { as: ctx.fac }), 200);
    await all.take('session.ended');

    const expected = [
      'userJoined',
      'typing',
      'session.started',
      'session.updated',
      'prompt.updated',
      'vote.submitted',
      'round.advanced',
      'chat.message',
      'chat.read',
      'revote.submitted',
      'sharedCard.created',
      'userLeft',
      'session.ended',
    ];
    const seen = new Set(all.messages.map((m) => m.event));
    for (const e of expected) assert.ok(seen.has(e), `the owner's socket saw "${e}"; got:\n    ${all.history()}`);
    for (const m of all.messages) {
      assertEventShape(m.event, m.data);
      assert.equal(m.args.length, 1, `"${m.event}" has one argument`);
      if (m.data.sessionId !== undefined) assert.equal(m.data.sessionId, ctx.sid, `"${m.event}" sessionId`);
    }
    // Times are in order of emission (same clock, same socket)
    const times = all.messages.map((m) => Date.parse(m.data.timestamp));
    for (let i = 1; i < times.length; i++) {
      assert.ok(times[i] >= times[i - 1] - 5, `timestamps go forward: ${all.messages[i - 1].data.timestamp} then ${all.messages[i].data.timestamp}`);
    }
  });
});
