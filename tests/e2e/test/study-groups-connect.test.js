// Study-groups app: connecting to the namespaces /study-groups and /api/v1/study-groups.
// Contract: docs/study-groups.md "Socket.IO" → "Connecting".
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NSP,
  NSP_V1,
  T,
  V1,
  api,
  classroom,
  expectStatus,
  mintJwt,
  newUser,
  postChat,
  randomUUID,
  remember,
  addMember,
  sgConnect,
  sgConnectError,
  sgJoined,
  signJwt,
  suite,
} from './study-groups-helpers.js';

suite('study-groups connect: where the token is read', () => {
  let ctx;
  before(async () => {
    ctx = await classroom();
  });

  const ways = [
    ['auth', 'auth.token'],
    ['bearer', 'auth.token with a "Bearer " prefix'],
    ['query', 'the token query parameter (?token=)'],
    ['query-bearer', 'the token query parameter with a "Bearer " prefix'],
    ['header', 'the handshake Authorization: Bearer header'],
  ];
  for (const [via, what] of ways) {
    test(`a token in ${what} connects as its user (joinSession succeeds, others see its id)`, { timeout: T }, async () => {
      const watcher = await sgJoined(ctx.owner, ctx.sid);
      const c = await sgConnect(ctx.member, { via });
      assert.ok(c.connected);
      const res = await c.join(ctx.sid);
      assert.equal(res.sessionId, ctx.sid);
      const ev = await watcher.take('userJoined', (d) => d.userId === ctx.member.id);
      assert.equal(ev.sessionId, ctx.sid);
      assert.equal(ev.userName, ctx.member.name);
    });
  }

  for (const transports of [undefined, ['websocket'], ['polling']]) {
    const name = transports ? transports.join('+') : 'default (polling, then upgrade)';
    test(`transport ${name}: connect, join, receive a REST-caused event`, { timeout: T }, async () => {
      const c = await sgJoined(ctx.member, ctx.sid, { transports });
      const text = `over ${name} ${randomUUID()}`;
      expectStatus(await postChat(ctx.fac, ctx.gid, ctx.sid, text, 1), 201);
      const ev = await c.take('chat.message', (d) => d.message === text);
      assert.equal(ev.sessionId, ctx.sid);
    });
  }

  test('the user id may come from `_id` (no sub) or `userId`, as configured fallbacks', { timeout: T }, async () => {
    for (const claim of ['_id', 'userId']) {
      const id = randomUUID();
      const token = signJwt({ [claim]: id, name: `Claim ${claim}`, email: `claim-${id.slice(0, 6)}@example.test` });
      const user = { id, token, label: `via ${claim}`, name: `Claim ${claim}` };
      await remember(user);
      await addMember(ctx.owner, ctx.gid, user, 'MEMBER');
      const watcher = await sgJoined(ctx.owner, ctx.sid);
      const c = await sgJoined(user, ctx.sid);
      const ev = await watcher.take('userJoined', (d) => d.userId === id);
      assert.equal(ev.userName, `Claim ${claim}`);
      c.close();
      watcher.close();
    }
  });
});

suite('study-groups connect: refused tokens', () => {
  for (const nsp of [NSP, NSP_V1]) {
    test(`${nsp}: no token at all → connect_error "missing token"`, { timeout: T }, async () => {
      const err = await sgConnectError(null, { nsp, token: null });
      assert.ok(err.message.includes('token'), `message contains "token": ${err.message}`);
      assert.equal(err.message, 'missing token');
    });

    test(`${nsp}: an empty auth.token → connect_error containing "token"`, { timeout: T }, async () => {
      const err = await sgConnectError(null, { nsp, token: '' });
      assert.ok(err.message.includes('token'), `message contains "token": ${err.message}`);
    });

    test(`${nsp}: a malformed token → connect_error "invalid token"`, { timeout: T }, async () => {
      const err = await sgConnectError(null, { nsp, token: 'not-a-jwt' });
      assert.ok(err.message.includes('token'), `message contains "token": ${err.message}`);
      assert.equal(err.message, 'invalid token');
    });

    test(`${nsp}: a token signed with another secret → connect_error "invalid token"`, { timeout: T }, async () => {
      const token = await mintJwt({ sub: randomUUID(), name: 'Mallory', secret: 'not-the-e2e-secret' });
      const err = await sgConnectError(null, { nsp, token });
      assert.ok(err.message.includes('token'), `message contains "token": ${err.message}`);
      assert.equal(err.message, 'invalid token');
    });

    test(`${nsp}: an expired token → connect_error "token expired"`, { timeout: T }, async () => {
      const token = await mintJwt({ sub: randomUUID(), name: 'Old', ttl: -60 });
      const err = await sgConnectError(null, { nsp, token });
      assert.ok(err.message.includes('token'), `message contains "token": ${err.message}`);
      assert.equal(err.message, 'token expired');
    });

    test(`${nsp}: an expired token in the query parameter → connect_error "token expired"`, { timeout: T }, async () => {
      const token = await mintJwt({ sub: randomUUID(), name: 'Old', ttl: -60 });
      const err = await sgConnectError(null, { nsp, token, via: 'query' });
      assert.equal(err.message, 'token expired');
    });
  }

  test('after a refused token, the frontend refreshes it and connects (socket.auth = {token: fresh})', { timeout: T }, async () => {
    const user = await newUser('Refresher');
    const expired = await mintJwt({ sub: user.id, name: user.name, ttl: -60 });
    const err = await sgConnectError(null, { token: expired });
    assert.equal(err.message, 'token expired');
    const c = await sgConnect(user);
    assert.ok(c.connected);
    const res = await api('GET', `${V1}/groups`, { as: user });
    expectStatus(res, 200);
  });
});

suite('study-groups connect: /api/v1/study-groups is the same app', () => {
  let ctx;
  before(async () => {
    ctx = await classroom();
  });

  test('/api/v1/study-groups: join a session, get its REST-caused events', { timeout: T }, async () => {
    const c = await sgConnect(ctx.member, { nsp: NSP_V1 });
    const res = await c.join(ctx.sid);
    assert.equal(res.message, `Joined session ${ctx.sid}`);
    const text = `v1 ${randomUUID()}`;
    expectStatus(await postChat(ctx.owner, ctx.gid, ctx.sid, text), 201);
    const ev = await c.take('chat.message', (d) => d.message === text);
    assert.equal(ev.userId, ctx.owner.id);
  });

  test('a session room spans both namespaces: presence, typing and REST events cross over', { timeout: T }, async () => {
    const a = await sgJoined(ctx.fac, ctx.sid, { nsp: NSP });
    const b = await sgConnect(ctx.member, { nsp: NSP_V1 });
    await b.join(ctx.sid);
    // b (v1) joined → a (plain) is told
    const joined = await a.take('userJoined', (d) => d.userId === ctx.member.id);
    assert.equal(joined.sessionId, ctx.sid);

    // a (plain) joins later sockets' news: a third socket on /study-groups joins → b (v1) told
    const c = await sgJoined(ctx.scribe, ctx.sid, { nsp: NSP });
    await b.take('userJoined', (d) => d.userId === ctx.scribe.id);

    // typing from v1 reaches plain
    const ack = await b.ack('typing', { sessionId: ctx.sid, isTyping: true });
    assert.equal(ack?.success, true, JSON.stringify(ack));
    const typing = await a.take('typing', (d) => d.userId === ctx.member.id);
    assert.equal(typing.isTyping, true);

    // a REST chat reaches both
    const text = `cross ${randomUUID()}`;
    expectStatus(await postChat(ctx.owner, ctx.gid, ctx.sid, text), 201);
    await a.take('chat.message', (d) => d.message === text);
    await b.take('chat.message', (d) => d.message === text);
    await c.take('chat.message', (d) => d.message === text);

    // leaving from plain is seen on v1
    await a.leave(ctx.sid);
    const left = await b.take('userLeft', (d) => d.userId === ctx.fac.id);
    assert.equal(left.sessionId, ctx.sid);
  });
});
