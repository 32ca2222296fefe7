// Study-groups app: the groups REST API (groups and their members), under /api/v1 and without
// the prefix. Contract: docs/study-groups.md "REST" → "Groups".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  GROUP_KEYS,
  GROUP_MEMBER_KEYS,
  LIMITS,
  PREFIXES,
  T,
  UUID,
  V1,
  addMember,
  api,
  assertIsoTime,
  assertKeys,
  classroom,
  createGroup,
  expectError,
  expectStatus,
  groupWith,
  mintJwt,
  newUser,
  newUsers,
  postChat,
  randomUUID,
  remember,
  sgJoined,
  suite,
} from './study-groups-helpers.js';

const member = (group, user) => group.members.find((m) => m.userId === user.id);

suite('study-groups REST: authentication', () => {
  const calls = [
    ['POST', '/groups', { name: 'x' }],
    ['GET', '/groups'],
    ['GET', `/groups/${randomUUID()}`],
    ['POST', `/groups/${randomUUID()}/members`, { userId: randomUUID() }],
    ['DELETE', `/groups/${randomUUID()}/members/${randomUUID()}`],
    ['POST', `/groups/${randomUUID()}/sessions`, { rounds: [{ prompt: 'q' }] }],
    ['GET', `/groups/${randomUUID()}/sessions`],
    ['GET', `/group-sessions/${randomUUID()}`],
    ['POST', `/group-sessions/${randomUUID()}/join`],
    ['PUT', `/group-sessions/${randomUUID()}/start`],
    ['POST', `/group-sessions/${randomUUID()}/rounds/1/advance`, { to_status: 'DISCUSSING' }],
    ['PATCH', `/group-sessions/${randomUUID()}/rounds/1/prompt`, { prompt: 'p' }],
    ['PUT', `/group-sessions/${randomUUID()}/rounds/1/prompt`, { prompt: 'p' }],
    ['POST', `/group-sessions/${randomUUID()}/events`, { round_index: 1, event_type: 'PI_VOTE_SUBMIT' }],
    ['GET', `/group-sessions/${randomUUID()}/events`],
    ['POST', `/groups/${randomUUID()}/sessions/${randomUUID()}/chat`, { message: 'hi' }],
    ['GET', `/groups/${randomUUID()}/sessions/${randomUUID()}/chat`],
    ['POST', `/groups/sessions/${randomUUID()}/chat`, { message: 'hi' }],
    ['GET', `/groups/sessions/${randomUUID()}/chat`],
    ['PUT', `/group-sessions/${randomUUID()}/status`, { status: 'FINISHED' }],
    ['POST', `/group-sessions/${randomUUID()}/finish`],
  ];
  for (const prefix of PREFIXES) {
    test(`every route${prefix ? ` under ${prefix}` : ' without the prefix'} → 401 without a token`, { timeout: T }, async () => {
      for (const [method, path, body] of calls) {
        expectError(await api(method, prefix + path, { token: null, body }), 401, 'no Authorization header');
      }
    });
  }

  test('401 with a malformed, a wrongly signed or an expired token, and with a non-Bearer scheme', { timeout: T }, async () => {
    const wrong = await mintJwt({ sub: randomUUID(), name: 'M', secret: 'other-secret' });
    const expired = await mintJwt({ sub: randomUUID(), name: 'Old', ttl: -60 });
    for (const prefix of PREFIXES) {
      for (const token of ['garbage', wrong, expired]) {
        expectError(await api('GET', `${prefix}/groups`, { token }), 401, `token ${token.slice(0, 12)}…`);
        expectError(await api('POST', `${prefix}/groups`, { token, body: { name: 'x' } }), 401);
      }
      const good = await mintJwt({ sub: randomUUID(), name: 'G' });
      expectError(await api('GET', `${prefix}/groups`, { token: null, headers: { authorization: `Basic ${good}` } }), 401);
    }
  });
});

suite('study-groups REST: groups', () => {
  for (const prefix of PREFIXES) {
    test(`POST ${prefix}/groups → 201 group; the caller is its OWNER`, { timeout: T }, async () => {
      const owner = await newUser('Owner');
      const res = await api('POST', `${prefix}/groups`, { as: owner, body: { name: 'Biology 101', description: 'cells' } });
      const g = expectStatus(res, 201);
      assertKeys(g, GROUP_KEYS, 'group');
      assert.match(g.id, UUID);
      assert.equal(g.name, 'Biology 101');
      assert.equal(g.description, 'cells');
      assert.equal(g.ownerId, owner.id);
      assertIsoTime(g.createdAt, 'createdAt');
      assert.equal(g.members.length, 1);
      assertKeys(g.members[0], GROUP_MEMBER_KEYS, 'member');
      assert.equal(g.members[0].userId, owner.id);
      assert.equal(g.members[0].role, 'OWNER');
      assert.equal(g.members[0].userName, owner.name);
      assertIsoTime(g.members[0].addedAt, 'addedAt');
    });

    test(`GET ${prefix}/groups/:id → 200 for members (same group both ways), 403 for outsiders, 404 unknown`, { timeout: T }, async () => {
      const [owner, mem, outsider] = await newUsers('Owner', 'Mem', 'Out');
      await remember(mem);
      const g = await groupWith(owner, [mem]);
      const got = expectStatus(await api('GET', `${prefix}/groups/${g.id}`, { as: mem }), 200);
      assertKeys(got, GROUP_KEYS, 'group');
      assert.equal(got.id, g.id);
      assert.equal(got.name, g.name);
      assert.equal(got.ownerId, owner.id);
      assert.deepEqual(
        got.members.map((m) => [m.userId, m.role]).sort(),
        [
          [owner.id, 'OWNER'],
          [mem.id, 'MEMBER'],
        ].sort(),
      );
      assert.equal(member(got, mem).userName, mem.name);
      expectError(await api('GET', `${prefix}/groups/${g.id}`, { as: outsider }), 403);
      expectError(await api('GET', `${prefix}/groups/${randomUUID()}`, { as: owner }), 404);
    });
  }

  test('the same group is seen with and without the /api/v1 prefix', { timeout: T }, async () => {
    const owner = await newUser('Owner');
    const g = expectStatus(await api('POST', '/groups', { as: owner, body: { name: 'Unprefixed' } }), 201);
    const a = expectStatus(await api('GET', `${V1}/groups/${g.id}`, { as: owner }), 200);
    const b = expectStatus(await api('GET', `/groups/${g.id}`, { as: owner }), 200);
    assert.deepEqual(a, b);
    assert.equal(a.name, 'Unprefixed');
  });

  test('POST /groups without a description → 201, description null or absent-but-keyed', { timeout: T }, async () => {
    const owner = await newUser('Owner');
    const g = expectStatus(await api('POST', `${V1}/groups`, { as: owner, body: { name: 'No description' } }), 201);
    assert.ok('description' in g, `group has "description": ${JSON.stringify(g)}`);
    assert.ok(g.description === null || g.description === '', `description is null or empty: ${JSON.stringify(g.description)}`);
  });

  test('POST /groups: 400 for an empty, a missing or a too long name; 100 characters is fine', { timeout: T }, async () => {
    const owner = await newUser('Owner');
    for (const prefix of PREFIXES) {
      expectError(await api('POST', `${prefix}/groups`, { as: owner, body: { name: '' } }), 400, 'empty name');
      expectError(await api('POST', `${prefix}/groups`, { as: owner, body: {} }), 400, 'no name');
      expectError(await api('POST', `${prefix}/groups`, { as: owner, body: { name: 'n'.repeat(LIMITS.maxNameLength + 1) } }), 400, 'too long');
      expectError(await api('POST', `${prefix}/groups`, { as: owner, body: { name: 42 } }), 400, 'name not a string');
    }
    const g = expectStatus(await api('POST', `${V1}/groups`, { as: owner, body: { name: 'n'.repeat(LIMITS.maxNameLength) } }), 201);
    assert.equal(g.name.length, LIMITS.maxNameLength);
  });

  test('GET /groups → an array of exactly the groups the caller belongs to', { timeout: T }, async () => {
    const [ann, bob, cat] = await newUsers('Ann', 'Bob', 'Cat');
    const g1 = await createGroup(ann, { name: 'Ann only' });
    const g2 = await groupWith(ann, [bob], { name: 'Ann and Bob' });
    const g3 = await createGroup(bob, { name: 'Bob only' });
    for (const prefix of PREFIXES) {
      const a = expectStatus(await api('GET', `${prefix}/groups`, { as: ann }), 200);
      assert.ok(Array.isArray(a), JSON.stringify(a));
      assert.deepEqual(a.map((g) => g.id).sort(), [g1.id, g2.id].sort());
      for (const g of a) assertKeys(g, ['id', 'name', 'ownerId', 'createdAt'], 'listed group');
      const b = expectStatus(await api('GET', `${prefix}/groups`, { as: bob }), 200);
      assert.deepEqual(b.map((g) => g.id).sort(), [g2.id, g3.id].sort());
      const c = expectStatus(await api('GET', `${prefix}/groups`, { as: cat }), 200);
      assert.deepEqual(c, []);
    }
  });
});

suite('study-groups REST: adding members and roles', () => {
  for (const prefix of PREFIXES) {
    test(`POST ${prefix}/groups/:id/members: OWNER adds a MEMBER (default role), MOD and OWNER → 201 each`, { timeout: T }, async () => {
      const [owner, m1, m2, m3] = await newUsers('Owner', 'Plain', 'Mod', 'CoOwner');
      await remember(m1);
      const g = await createGroup(owner);
      const path = `${prefix}/groups/${g.id}/members`;
      const r1 = expectStatus(await api('POST', path, { as: owner, body: { userId: m1.id } }), 201);
      assertKeys(r1, GROUP_MEMBER_KEYS, 'new member');
      assert.equal(r1.userId, m1.id);
      assert.equal(r1.role, 'MEMBER');
      assert.equal(r1.userName, m1.name);
      assertIsoTime(r1.addedAt, 'addedAt');
      const r2 = expectStatus(await api('POST', path, { as: owner, body: { userId: m2.id, role: 'MOD' } }), 201);
      assert.equal(r2.role, 'MOD');
      const r3 = expectStatus(await api('POST', path, { as: owner, body: { userId: m3.id, role: 'OWNER' } }), 201);
      assert.equal(r3.role, 'OWNER');
      const got = expectStatus(await api('GET', `${V1}/groups/${g.id}`, { as: m1 }), 200);
      assert.equal(member(got, m1).role, 'MEMBER');
      assert.equal(member(got, m2).role, 'MOD');
      assert.equal(member(got, m3).role, 'OWNER');
      assert.equal(member(got, owner).role, 'OWNER');
    });
  }

  test('adding an existing member again with another role → 200, role changed', { timeout: T }, async () => {
    const [owner, m] = await newUsers('Owner', 'M');
    const g = await groupWith(owner, [m]);
    const r = await addMember(owner, g.id, m, 'MOD', 200);
    assert.equal(r.userId, m.id);
    assert.equal(r.role, 'MOD');
    const got = expectStatus(await api('GET', `${V1}/groups/${g.id}`, { as: owner }), 200);
    assert.equal(member(got, m).role, 'MOD');
    assert.equal(got.members.filter((x) => x.userId === m.id).length, 1, 'listed once');
    const back = await addMember(owner, g.id, m, 'MEMBER', 200);
    assert.equal(back.role, 'MEMBER');
  });

  test('a MOD may add MEMBERs (201) but not MODs or OWNERs (403), nor change a MOD (403)', { timeout: T }, async () => {
    const [owner, mod, mod2, a, b, c] = await newUsers('Owner', 'Mod', 'Mod2', 'A', 'B', 'C');
    const g = await groupWith(owner, [[mod, 'MOD'], [mod2, 'MOD']]);
    const r = await addMember(mod, g.id, a, undefined, 201);
    assert.equal(r.role, 'MEMBER');
    await addMember(mod, g.id, b, 'MEMBER', 201);
    expectError(await api('POST', `${V1}/groups/${g.id}/members`, { as: mod, body: { userId: c.id, role: 'MOD' } }), 403, 'MOD adds MOD');
    expectError(await api('POST', `${V1}/groups/${g.id}/members`, { as: mod, body: { userId: c.id, role: 'OWNER' } }), 403, 'MOD adds OWNER');
    expectError(await api('POST', `${V1}/groups/${g.id}/members`, { as: mod, body: { userId: a.id, role: 'MOD' } }), 403, 'MOD promotes MEMBER');
    expectError(await api('POST', `${V1}/groups/${g.id}/members`, { as: mod, body: { userId: mod2.id, role: 'MEMBER' } }), 403, 'MOD demotes MOD');
    expectError(await api('POST', `${V1}/groups/${g.id}/members`, { as: mod, body: { userId: owner.id, role: 'MEMBER' } }), 403, 'MOD demotes OWNER');
    const got = expectStatus(await api('GET', `${V1}/groups/${g.id}`, { as: owner }), 200);
    assert.equal(member(got, c), undefined, 'c was not added');
    assert.equal(member(got, a).role, 'MEMBER');
    assert.equal(member(got, mod2).role, 'MOD');
    assert.equal(member(got, owner).role, 'OWNER');
  });

  test('a MEMBER or an outsider may not add members → 403', { timeout: T }, async () => {
    const [owner, m, outsider, x] = await newUsers('Owner', 'M', 'Out', 'X');
    const g = await groupWith(owner, [m]);
    expectError(await api('POST', `${V1}/groups/${g.id}/members`, { as: m, body: { userId: x.id } }), 403, 'MEMBER adds');
    expectError(await api('POST', `${V1}/groups/${g.id}/members`, { as: outsider, body: { userId: x.id } }), 403, 'outsider adds');
    expectError(await api('POST', `/groups/${g.id}/members`, { as: outsider, body: { userId: outsider.id } }), 403, 'outsider adds self');
  });

  test('400 for an unknown role, a missing, empty or non-string userId; 404 for an unknown group', { timeout: T }, async () => {
    const [owner, x] = await newUsers('Owner', 'X');
    const g = await createGroup(owner);
    const path = `${V1}/groups/${g.id}/members`;
    expectError(await api('POST', path, { as: owner, body: { userId: x.id, role: 'ADMIN' } }), 400, 'role ADMIN');
    expectError(await api('POST', path, { as: owner, body: { userId: x.id, role: 'owner!' } }), 400, 'role owner!');
    expectError(await api('POST', path, { as: owner, body: { role: 'MEMBER' } }), 400, 'no userId');
    expectError(await api('POST', path, { as: owner, body: { userId: '' } }), 400, 'empty userId');
    expectError(await api('POST', path, { as: owner, body: { userId: 12 } }), 400, 'numeric userId');
    expectError(await api('POST', `${V1}/groups/${randomUUID()}/members`, { as: owner, body: { userId: x.id } }), 404, 'unknown group');
  });

  test('409 when the change would leave the group without an OWNER; with two OWNERs it is fine', { timeout: T }, async () => {
    const [owner, other] = await newUsers('Owner', 'Other');
    const g = await createGroup(owner);
    const b = expectError(
      await api('POST', `${V1}/groups/${g.id}/members`, { as: owner, body: { userId: owner.id, role: 'MEMBER' } }),
      409,
      'sole OWNER demotes self',
    );
    assert.ok(b.message.length > 0);
    await addMember(owner, g.id, other, 'OWNER', 201);
    const r = await addMember(other, g.id, owner, 'MOD', 200);
    assert.equal(r.role, 'MOD');
    expectError(
      await api('POST', `${V1}/groups/${g.id}/members`, { as: other, body: { userId: other.id, role: 'MEMBER' } }),
      409,
      'now sole OWNER demotes self',
    );
  });
});

suite('study-groups REST: removing members', () => {
  for (const prefix of PREFIXES) {
    test(`DELETE ${prefix}/groups/:id/members/:userId by the OWNER → 204; the member loses access`, { timeout: T }, async () => {
      const [owner, m] = await newUsers('Owner', 'M');
      const g = await groupWith(owner, [m]);
      const res = await api('DELETE', `${prefix}/groups/${g.id}/members/${m.id}`, { as: owner });
      expectStatus(res, 204);
      assert.equal(res.text, '', '204 has no body');
      const got = expectStatus(await api('GET', `${V1}/groups/${g.id}`, { as: owner }), 200);
      assert.equal(member(got, m), undefined);
      expectError(await api('GET', `${V1}/groups/${g.id}`, { as: m }), 403);
      const list = expectStatus(await api('GET', `${V1}/groups`, { as: m }), 200);
      assert.ok(!list.some((x) => x.id === g.id), 'no longer listed');
    });
  }

  test('a member may remove themself (204); a MEMBER may not remove another member (403)', { timeout: T }, async () => {
    const [owner, a, b] = await newUsers('Owner', 'A', 'B');
    const g = await groupWith(owner, [a, b]);
    expectError(await api('DELETE', `${V1}/groups/${g.id}/members/${b.id}`, { as: a }), 403, 'MEMBER removes MEMBER');
    expectError(await api('DELETE', `${V1}/groups/${g.id}/members/${owner.id}`, { as: a }), 403, 'MEMBER removes OWNER');
    expectStatus(await api('DELETE', `${V1}/groups/${g.id}/members/${a.id}`, { as: a }), 204);
    const got = expectStatus(await api('GET', `${V1}/groups/${g.id}`, { as: owner }), 200);
    assert.equal(member(got, a), undefined);
    assert.ok(member(got, b));
  });

  test('a MOD may remove MEMBERs (204) but not MODs or OWNERs (403); a MOD may leave', { timeout: T }, async () => {
    const [owner, mod, mod2, m] = await newUsers('Owner', 'Mod', 'Mod2', 'M');
    const g = await groupWith(owner, [[mod, 'MOD'], [mod2, 'MOD'], m]);
    expectError(await api('DELETE', `${V1}/groups/${g.id}/members/${mod2.id}`, { as: mod }), 403, 'MOD removes MOD');
    expectError(await api('DELETE', `${V1}/groups/${g.id}/members/${owner.id}`, { as: mod }), 403, 'MOD removes OWNER');
    expectStatus(await api('DELETE', `${V1}/groups/${g.id}/members/${m.id}`, { as: mod }), 204);
    expectStatus(await api('DELETE', `${V1}/groups/${g.id}/members/${mod2.id}`, { as: mod2 }), 204);
    const got = expectStatus(await api('GET', `${V1}/groups/${g.id}`, { as: owner }), 200);
    assert.deepEqual(got.members.map((x) => x.userId).sort(), [owner.id, mod.id].sort());
  });

  test('an outsider may not remove members → 403', { timeout: T }, async () => {
    const [owner, m, outsider] = await newUsers('Owner', 'M', 'Out');
    const g = await groupWith(owner, [m]);
    expectError(await api('DELETE', `${V1}/groups/${g.id}/members/${m.id}`, { as: outsider }), 403);
  });

  test('409 removing the last OWNER (even themself); an OWNER can be removed while another remains', { timeout: T }, async () => {
    const [owner, other, m] = await newUsers('Owner', 'Other', 'M');
    const g = await groupWith(owner, [m]);
    expectError(await api('DELETE', `${V1}/groups/${g.id}/members/${owner.id}`, { as: owner }), 409, 'last OWNER leaves');
    await addMember(owner, g.id, other, 'OWNER');
    expectStatus(await api('DELETE', `${V1}/groups/${g.id}/members/${owner.id}`, { as: other }), 204);
    expectError(await api('DELETE', `${V1}/groups/${g.id}/members/${other.id}`, { as: other }), 409, 'new last OWNER leaves');
  });

  test('404 for an unknown group or a user who is not a member', { timeout: T }, async () => {
    const [owner, x] = await newUsers('Owner', 'X');
    const g = await createGroup(owner);
    expectError(await api('DELETE', `${V1}/groups/${randomUUID()}/members/${x.id}`, { as: owner }), 404, 'unknown group');
    expectError(await api('DELETE', `${V1}/groups/${g.id}/members/${x.id}`, { as: owner }), 404, 'not a member');
  });

  test("a removed member's sockets leave the group's session rooms: others get userLeft, it gets nothing more", { timeout: T }, async () => {
    const ctx = await classroom({ start: true });
    const watcher = await sgJoined(ctx.fac, ctx.sid);
    const gone = await sgJoined(ctx.member, ctx.sid);
    await watcher.take('userJoined', (d) => d.userId === ctx.member.id);

    expectStatus(await api('DELETE', `${V1}/groups/${ctx.gid}/members/${ctx.member.id}`, { as: ctx.owner }), 204);
    const left = await watcher.take('userLeft', (d) => d.userId === ctx.member.id);
    assert.equal(left.sessionId, ctx.sid);
    assert.equal(left.userName, ctx.member.name);

    // marker: a chat the watcher receives; the removed socket must not
    const mark = gone.mark();
    const text = `after removal ${randomUUID()}`;
    expectStatus(await postChat(ctx.owner, ctx.gid, ctx.sid, text), 201);
    await watcher.take('chat.message', (d) => d.message === text);
    expectStatus(await api('PUT', `${V1}/group-sessions/${ctx.sid}/rounds/1/prompt`, { as: ctx.fac, body: { prompt: 'New?' } }), 200);
    await watcher.take('prompt.updated');
    await gone.sync();
    gone.none(mark, ['chat.message', 'prompt.updated', 'userJoined', 'userLeft', 'typing'], 'removed from the group');
    assert.ok(gone.connected, 'the socket itself stays connected');

    // and it may not join again
    const again = await gone.ack('joinSession', { sessionId: ctx.sid });
    assert.equal(again?.success, false, JSON.stringify(again));
    assert.equal(again.error?.code, 'FORBIDDEN', JSON.stringify(again));
  });
  test('a member who removes themself leaves the session rooms too (userLeft) and is no longer a session member', { timeout: T }, async () => {
    const ctx = await classroom();
    const watcher = await sgJoined(ctx.fac, ctx.sid);
    const gone = await sgJoined(ctx.member, ctx.sid, { nsp: '/api/v1/study-groups' });
    await watcher.take('userJoined', (d) => d.userId === ctx.member.id);
    expectStatus(await api('DELETE', `/groups/${ctx.gid}/members/${ctx.member.id}`, { as: ctx.member }), 204);
    const left = await watcher.take('userLeft', (d) => d.userId === ctx.member.id);
    assert.equal(left.sessionId, ctx.sid);
    const mark = gone.mark();
    const text = `after leaving ${randomUUID()}`;
    expectStatus(await postChat(ctx.owner, ctx.gid, ctx.sid, text), 201);
    await watcher.take('chat.message', (d) => d.message === text);
    await gone.sync();
    gone.none(mark, 'chat.message', 'left the group');
    const s = expectStatus(await api('GET', `${V1}/group-sessions/${ctx.sid}`, { as: ctx.owner }), 200);
    assert.ok(!s.members.some((m) => m.userId === ctx.member.id), 'no longer a session member');
    expectError(await api('GET', `${V1}/group-sessions/${ctx.sid}`, { as: ctx.member }), 403);
  });
});
