// Study-groups app: session chat over REST (both paths, with and without /api/v1), its
// announcement `chat.message`, history, and read receipts (`chat.read`).
// Contract: docs/study-groups.md "Sessions" (chat rows), "Client events" (chat.read).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CHAT_KEYS,
  LIMITS,
  PREFIXES,
  T,
  UUID,
  V1,
  api,
  assertAckError,
  assertIsoTime,
  assertKeys,
  assertSameRecord,
  assertSameTime,
  classroom,
  expectError,
  expectStatus,
  postChat,
  randomUUID,
  sgConnect,
  sgJoined,
  suite,
} from './study-groups-helpers.js';

/** The two chat paths of session `sid` of group `gid`, with `prefix`. */
const chatPaths = (prefix, gid, sid) => [`${prefix}/groups/${gid}/sessions/${sid}/chat`, `${prefix}/groups/sessions/${sid}/chat`];

suite('study-groups chat: posting', () => {
  for (const prefix of PREFIXES) {
    for (const which of [0, 1]) {
      const label = which === 0 ? '/groups/:groupId/sessions/:sessionId/chat' : '/groups/sessions/:sessionId/chat';
      test(`POST ${prefix}${label} → 201 message; emits chat.message with userName`, { timeout: T }, async () => {
        const ctx = await classroom();
        const a = await sgJoined(ctx.fac, ctx.sid);
        const b = await sgJoined(ctx.member, ctx.sid, { nsp: '/api/v1/study-groups' });
        const path = chatPaths(prefix, ctx.gid, ctx.sid)[which];
        const text = `I think the answer is A (${randomUUID().slice(0, 6)})`;
        const msg = expectStatus(await api('POST', path, { as: ctx.member, body: { round_index: 1, message: text } }), 201);
        assertKeys(msg, CHAT_KEYS, 'chat message');
        assert.match(msg.id, UUID);
        assert.equal(msg.sessionId, ctx.sid);
        assert.equal(msg.roundIndex, 1);
        assert.equal(msg.userId, ctx.member.id);
        assert.equal(msg.userName, ctx.member.name);
        assert.equal(msg.message, text);
        assertIsoTime(msg.createdAt, 'createdAt');
        assert.deepEqual(msg.readBy, []);
        // the sender's own socket gets it too (REST-caused events go to every socket of the session)
        for (const c of [a, b]) {
          const ev = await c.take('chat.message', (d) => d.message === text);
          assert.equal(ev.id, msg.id);
          assert.equal(ev.sessionId, ctx.sid);
          assert.equal(ev.roundIndex, 1);
          assert.equal(ev.userId, ctx.member.id);
          assert.equal(ev.userName, ctx.member.name);
        }
      });
    }
  }

  test('roundIndex in camelCase is accepted; without a round the message is still posted', { timeout: T }, async () => {
    const ctx = await classroom();
    const m1 = expectStatus(
      await api('POST', `${V1}/groups/${ctx.gid}/sessions/${ctx.sid}/chat`, { as: ctx.fac, body: { roundIndex: 2, message: 'camel' } }),
      201,
    );
    assert.equal(m1.roundIndex, 2);
    const m2 = expectStatus(await postChat(ctx.fac, ctx.gid, ctx.sid, 'no round'), 201);
    assert.equal(m2.message, 'no round');
  });

  test('markup is stripped (tags, and the content of script/style) and the text trimmed', { timeout: T }, async () => {
    const ctx = await classroom();
    const c = await sgJoined(ctx.fac, ctx.sid);
    const cases = [
      ['<b>hello</b> <script>alert(1)</script>world', 'hello world'],
      ['  <i>spaced</i>  ', 'spaced'],
      ['<style>body{color:red}</style>styled <a href="x">link</a>', 'styled link'],
      ['<p>a</p><img src=x onerror=alert(1)>b', 'ab'],
    ];
    for (const [raw, clean] of cases) {
      const msg = expectStatus(await postChat(ctx.member, ctx.gid, ctx.sid, raw, 1), 201, raw);
      assert.equal(msg.message, clean, `stored text of ${raw}`);
      const ev = await c.take('chat.message', (d) => d.id === msg.id);
      assert.equal(ev.message, clean, `announced text of ${raw}`);
    }
  });

  test('400 when nothing is left after stripping, or for a missing / non-string message', { timeout: T }, async () => {
    const ctx = await classroom();
    const watcher = await sgJoined(ctx.fac, ctx.sid);
    const mark = watcher.mark();
    for (const path of chatPaths(V1, ctx.gid, ctx.sid)) {
      for (const message of ['', '   ', '<p></p>', '<script>alert(1)</script>', '<b> </b>']) {
        expectError(await api('POST', path, { as: ctx.member, body: { message } }), 400, JSON.stringify(message));
      }
      expectError(await api('POST', path, { as: ctx.member, body: {} }), 400, 'no message');
      expectError(await api('POST', path, { as: ctx.member, body: { message: 42 } }), 400, 'message a number');
    }
    const text = `marker ${randomUUID()}`;
    expectStatus(await postChat(ctx.member, ctx.gid, ctx.sid, text), 201);
    await watcher.take('chat.message', (d) => d.message === text);
    assert.equal(watcher.since(mark).filter((m) => m.event === 'chat.message').length, 1, 'refused messages were not announced');
  });

  test(`${LIMITS.maxChatLength} characters are fine (also multi-byte, also with markup around); ${LIMITS.maxChatLength + 1} → 400`, { timeout: T }, async () => {
    const ctx = await classroom();
    const max = LIMITS.maxChatLength;
    const ascii = expectStatus(await postChat(ctx.member, ctx.gid, ctx.sid, 'a'.repeat(max)), 201);
    assert.equal(ascii.message.length, max);
    const accents = expectStatus(await postChat(ctx.member, ctx.gid, ctx.sid, 'é'.repeat(max)), 201, '500 × é');
    assert.equal(accents.message, 'é'.repeat(max));
    const wrapped = expectStatus(await postChat(ctx.member, ctx.gid, ctx.sid, `<b>${'w'.repeat(max)}</b>`), 201, 'markup around');
    assert.equal(wrapped.message, 'w'.repeat(max));
    for (const path of chatPaths(V1, ctx.gid, ctx.sid)) {
      expectError(await api('POST', path, { as: ctx.member, body: { message: 'a'.repeat(max + 1) } }), 400, `${max + 1} characters`);
      expectError(await api('POST', path, { as: ctx.member, body: { message: 'é'.repeat(max + 1) } }), 400, `${max + 1} × é`);
    }
  });

  test('400 unknown round; 403 outsider; 404 unknown session or unknown group', { timeout: T }, async () => {
    const ctx = await classroom();
    const other = await classroom();
    expectError(await postChat(ctx.member, ctx.gid, ctx.sid, 'hi', 5), 400, 'round 5 of 2');
    for (const path of chatPaths(V1, ctx.gid, ctx.sid)) {
      expectError(await api('POST', path, { as: ctx.outsider, body: { message: 'hi' } }), 403, 'outsider');
    }
    expectError(await api('POST', `${V1}/groups/sessions/${randomUUID()}/chat`, { as: ctx.member, body: { message: 'hi' } }), 404, 'unknown session');
    expectError(await postChat(ctx.member, ctx.gid, randomUUID(), 'hi'), 404, 'unknown session (group path)');
    expectError(await postChat(ctx.member, randomUUID(), ctx.sid, 'hi'), 404, 'unknown group');
  });

  test('POST/GET /groups/:groupId/sessions/:sessionId/chat with a session of another group → 404', { timeout: T }, async () => {
    const ctx = await classroom();
    const other = await classroom();
    // a member of both groups: the group in the path must be the session's
    expectStatus(await api('POST', `${V1}/groups/${other.gid}/members`, { as: other.owner, body: { userId: ctx.member.id } }), 201);
    expectError(await postChat(ctx.member, ctx.gid, other.sid, 'hi'), 404, "member of both: other group's session under this group");
    expectError(await api('GET', `${V1}/groups/${ctx.gid}/sessions/${other.sid}/chat`, { as: ctx.member }), 404, 'member of both: GET');
    expectStatus(await postChat(ctx.member, other.gid, other.sid, 'hi'), 201);
    // a member of the path's group only (ctx.owner is not in other's group)
    expectError(await postChat(ctx.owner, ctx.gid, other.sid, 'hi'), 404, "another group's session under my group");
    expectError(await api('GET', `${V1}/groups/${ctx.gid}/sessions/${other.sid}/chat`, { as: ctx.owner }), 404, 'GET');
  });
});

suite('study-groups chat: history', () => {
  test('GET on both chat paths (both prefixes) → an array of messages, oldest first', { timeout: T }, async () => {
    const ctx = await classroom();
    const posted = [];
    for (const [u, text] of [
      [ctx.member, 'first'],
      [ctx.fac, 'second'],
      [ctx.owner, '<i>third</i>'],
    ]) {
      posted.push(expectStatus(await postChat(u, ctx.gid, ctx.sid, text, 1), 201));
    }
    for (const prefix of PREFIXES) {
      for (const path of chatPaths(prefix, ctx.gid, ctx.sid)) {
        const h = expectStatus(await api('GET', path, { as: ctx.scribe }), 200, path);
        assert.ok(Array.isArray(h), JSON.stringify(h));
        assert.deepEqual(
          h.map((m) => m.message),
          ['first', 'second', 'third'],
        );
        assert.deepEqual(
          h.map((m) => m.id),
          posted.map((m) => m.id),
        );
        for (const m of h) assertKeys(m, CHAT_KEYS, 'history message');
        assert.equal(h[1].userName, ctx.fac.name);
        assertSameRecord(h[0], posted[0], ['createdAt'], 'history message vs POST answer');
      }
    }
  });

  test('?limit=N gives the latest N, oldest first; default 100; 400 for a bad limit', { timeout: T * 2 }, async () => {
    const ctx = await classroom();
    const n = LIMITS.chatPageDefault + 3;
    for (let i = 1; i <= n; i++) expectStatus(await postChat(ctx.member, ctx.gid, ctx.sid, `m${i}`), 201);
    const path = `${V1}/groups/${ctx.gid}/sessions/${ctx.sid}/chat`;
    const def = expectStatus(await api('GET', path, { as: ctx.fac }), 200);
    assert.equal(def.length, LIMITS.chatPageDefault);
    assert.equal(def[0].message, `m${n - LIMITS.chatPageDefault + 1}`);
    assert.equal(def.at(-1).message, `m${n}`);
    const two = expectStatus(await api('GET', `${path}?limit=2`, { as: ctx.fac }), 200);
    assert.deepEqual(
      two.map((m) => m.message),
      [`m${n - 1}`, `m${n}`],
    );
    const all = expectStatus(await api('GET', `${V1}/groups/sessions/${ctx.sid}/chat?limit=${LIMITS.chatPageMax}`, { as: ctx.fac }), 200);
    assert.equal(all.length, n);
    assert.equal(all[0].message, 'm1');
    for (const bad of ['abc', '-1']) {
      expectError(await api('GET', `${path}?limit=${bad}`, { as: ctx.fac }), 400, `limit=${bad}`);
    }
  });

  test('?before=<messageId> pages back through older messages; the x-next-before header says where the next page starts', { timeout: T * 2 }, async () => {
    const ctx = await classroom();
    const ids = [];
    for (let i = 1; i <= 7; i++) ids.push(expectStatus(await postChat(ctx.member, ctx.gid, ctx.sid, `p${i}`), 201).id);
    const other = await classroom();
    const stranger = expectStatus(await postChat(other.member, other.gid, other.sid, 'elsewhere'), 201).id;
    const path = `${V1}/groups/${ctx.gid}/sessions/${ctx.sid}/chat`;
    const pages = [];
    let before = null;
    do {
      const q = before ? `?limit=3&before=${encodeURIComponent(before)}` : '?limit=3';
      const res = await api('GET', path + q, { as: ctx.fac });
      const page = expectStatus(res, 200);
      pages.push(page.map((m) => m.message));
      before = res.headers.get('x-next-before');
      if (before !== null) assert.equal(before, page[0].id, 'x-next-before is the oldest message of the page');
    } while (before !== null && pages.length < 10);
    assert.deepEqual(pages, [['p5', 'p6', 'p7'], ['p2', 'p3', 'p4'], ['p1']]);
    // Exactly a page's worth left: the last full page says there is nothing more.
    const exactRes = await api('GET', `${path}?limit=4&before=${ids[4]}`, { as: ctx.fac });
    assert.deepEqual(expectStatus(exactRes, 200).map((m) => m.message), ['p1', 'p2', 'p3', 'p4']);
    assert.equal(exactRes.headers.get('x-next-before'), null);
    const latest = await api('GET', path, { as: ctx.fac });
    expectStatus(latest, 200);
    assert.equal(latest.headers.get('x-next-before'), null, 'all 7 fit the default page');
    // A message of another session, or no message at all, is not a place to page from.
    for (const bad of [stranger, 'no-such-message']) {
      expectError(await api('GET', `${path}?before=${bad}`, { as: ctx.fac }), 400, `before=${bad}`);
    }
  });

  test('history: 403 outsider; 404 unknown session', { timeout: T }, async () => {
    const ctx = await classroom();
    for (const path of chatPaths(V1, ctx.gid, ctx.sid)) {
      expectError(await api('GET', path, { as: ctx.outsider }), 403, 'outsider');
    }
    expectError(await api('GET', `${V1}/groups/sessions/${randomUUID()}/chat`, { as: ctx.owner }), 404);
    expectError(await api('GET', `${V1}/groups/${ctx.gid}/sessions/${randomUUID()}/chat`, { as: ctx.owner }), 404);
  });
});

suite('study-groups chat: read receipts (chat.read)', () => {
  test('chat.read → ack {success, messageId, readAt}; relayed to the others (not the reader); history lists readBy', { timeout: T }, async () => {
    const ctx = await classroom();
    const author = await sgJoined(ctx.fac, ctx.sid);
    const reader = await sgJoined(ctx.member, ctx.sid);
    const third = await sgJoined(ctx.scribe, ctx.sid);
    const msg = expectStatus(await postChat(ctx.fac, ctx.gid, ctx.sid, 'read me', 1), 201);
    await reader.take('chat.message', (d) => d.id === msg.id);

    const mark = reader.mark();
    const res = await reader.ack('chat.read', { sessionId: ctx.sid, messageId: msg.id });
    assert.equal(res?.success, true, JSON.stringify(res));
    assert.equal(res.messageId, msg.id);
    assertIsoTime(res.readAt, 'readAt');
    for (const c of [author, third]) {
      const ev = await c.take('chat.read', (d) => d.messageId === msg.id);
      assert.equal(ev.sessionId, ctx.sid);
      assert.equal(ev.userId, ctx.member.id);
      assert.equal(ev.userName, ctx.member.name);
      assertSameTime(ev.readAt, res.readAt, 'relayed readAt');
    }

    // read again: once per user, the first read time kept
    const again = await reader.ack('chat.read', { sessionId: ctx.sid, messageId: msg.id });
    assert.equal(again?.success, true, JSON.stringify(again));
    assertSameTime(again.readAt, res.readAt, 'the first read time is kept');

    // the reader's own socket is skipped (marker: a later chat message)
    const text = `marker ${randomUUID()}`;
    expectStatus(await postChat(ctx.fac, ctx.gid, ctx.sid, text), 201);
    await reader.take('chat.message', (d) => d.message === text);
    reader.none(mark, 'chat.read', 'its own read receipt');

    for (const path of chatPaths(V1, ctx.gid, ctx.sid)) {
      const h = expectStatus(await api('GET', path, { as: ctx.owner }), 200);
      const m = h.find((x) => x.id === msg.id);
      assert.deepEqual(m.readBy, [ctx.member.id]);
    }

    // a second reader
    const r2 = await third.ack('chat.read', { sessionId: ctx.sid, messageId: msg.id });
    assert.equal(r2?.success, true, JSON.stringify(r2));
    await reader.take('chat.read', (d) => d.userId === ctx.scribe.id);
    const h = expectStatus(await api('GET', `/groups/sessions/${ctx.sid}/chat`, { as: ctx.owner }), 200);
    assert.deepEqual(h.find((x) => x.id === msg.id).readBy.sort(), [ctx.member.id, ctx.scribe.id].sort());
  });

  test('chat.read errors: MESSAGE_NOT_FOUND, FORBIDDEN when not in the session, INVALID_MESSAGE', { timeout: T }, async () => {
    const ctx = await classroom();
    const other = await classroom();
    const msg = expectStatus(await postChat(ctx.fac, ctx.gid, ctx.sid, 'x'), 201);
    const otherMsg = expectStatus(await postChat(other.fac, other.gid, other.sid, 'y'), 201);
    const inside = await sgJoined(ctx.member, ctx.sid);
    assertAckError(await inside.ack('chat.read', { sessionId: ctx.sid, messageId: randomUUID() }), 'MESSAGE_NOT_FOUND', 'unknown message');
    assertAckError(
      await inside.ack('chat.read', { sessionId: ctx.sid, messageId: otherMsg.id }),
      'MESSAGE_NOT_FOUND',
      "another session's message",
    );
    assertAckError(await inside.ack('chat.read', { sessionId: ctx.sid }), 'INVALID_MESSAGE', 'no messageId');
    assertAckError(await inside.ack('chat.read', { messageId: msg.id }), 'INVALID_MESSAGE', 'no sessionId');
    assertAckError(await inside.ack('chat.read', 'nope'), 'INVALID_MESSAGE', 'a string');
    assertAckError(await inside.ack('chat.read', { sessionId: ctx.sid, messageId: 7 }), 'INVALID_MESSAGE', 'numeric messageId');

    // a member's socket that did not joinSession
    const notIn = await sgConnect(ctx.scribe);
    assertAckError(await notIn.ack('chat.read', { sessionId: ctx.sid, messageId: msg.id }), 'FORBIDDEN', 'socket not in the session');
    const h = expectStatus(await api('GET', `${V1}/groups/sessions/${ctx.sid}/chat`, { as: ctx.owner }), 200);
    assert.deepEqual(h.find((x) => x.id === msg.id).readBy, [], 'refused reads are not recorded');
    assert.ok(inside.connected && notIn.connected);
  });
});
