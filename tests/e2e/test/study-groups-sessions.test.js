// Study-groups app: sessions over REST (create, list, get, attend, start, status, finish) and
// the events they announce. Contract: docs/study-groups.md "REST" → "Sessions", "Server events".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LIMITS,
  PREFIXES,
  ROUND_KEYS,
  SESSION_KEYS,
  SESSION_MEMBER_KEYS,
  T,
  UUID,
  V1,
  api,
  assertIsoTime,
  assertKeys,
  assertSameTime,
  attendSession,
  classroom,
  createSession,
  expectError,
  expectStatus,
  getSession,
  groupWith,
  newUsers,
  postChat,
  postEvent,
  randomUUID,
  remember,
  sessionMember,
  sgJoined,
  startSession,
  suite,
} from './study-groups-helpers.js';

function assertSessionShape(s) {
  assertKeys(s, SESSION_KEYS, 'session');
  assert.match(s.id, UUID);
  assert.ok(['CREATED', 'RUNNING', 'FINISHED'].includes(s.status), `status: ${s.status}`);
  assertIsoTime(s.createdAt, 'createdAt');
  assert.ok(Array.isArray(s.rounds) && Array.isArray(s.members), JSON.stringify(s).slice(0, 500));
  for (const r of s.rounds) {
    assertKeys(r, ROUND_KEYS, 'round');
    assert.match(r.id, UUID);
    assertIsoTime(r.updatedAt, 'round.updatedAt');
  }
  for (const m of s.members) {
    assertKeys(m, SESSION_MEMBER_KEYS, 'session member');
    assert.ok(Array.isArray(m.roles), `roles is a list: ${JSON.stringify(m)}`);
    for (const r of m.roles) assert.ok(['FACILITATOR', 'SCRIBE', 'PARTICIPANT'].includes(r), `role ${r}`);
    assert.ok(['JOINED', 'NOT_JOINED'].includes(m.attendance), `attendance ${m.attendance}`);
  }
}

suite('study-groups REST: creating sessions', () => {
  for (const prefix of PREFIXES) {
    test(`POST ${prefix}/groups/:id/sessions → 201 CREATED, rounds numbered from 1 and VOTING, members with roles`, { timeout: T }, async () => {
      const [owner, fac, scribe, m] = await newUsers('Owner', 'Fac', 'Scribe', 'M');
      await remember(owner, fac, scribe, m);
      const g = await groupWith(owner, [fac, scribe, [m, 'MOD']]);
      const res = await api('POST', `${prefix}/groups/${g.id}/sessions`, {
        as: owner,
        body: {
          title: 'Week 1',
          rounds: [{ prompt: 'What is a cell?' }, { prompt: 'What is DNA?' }, { prompt: 'Why?' }],
          facilitatorId: fac.id,
          scribeId: scribe.id,
        },
      });
      const s = expectStatus(res, 201);
      assertSessionShape(s);
      assert.equal(s.groupId, g.id);
      assert.equal(s.title, 'Week 1');
      assert.equal(s.status, 'CREATED');
      assert.equal(s.facilitatorId, fac.id);
      assert.equal(s.scribeId, scribe.id);
      assert.equal(s.createdBy, owner.id);
      assert.equal(s.startedAt, null);
      assert.equal(s.startedBy, null);
      assert.equal(s.endedAt, null);
      assert.deepEqual(
        s.rounds.map((r) => [r.roundIndex, r.prompt, r.status]),
        [
          [1, 'What is a cell?', 'VOTING'],
          [2, 'What is DNA?', 'VOTING'],
          [3, 'Why?', 'VOTING'],
        ],
      );
      assert.equal(new Set(s.rounds.map((r) => r.id)).size, 3, 'round ids differ');
      assert.deepEqual(s.members.map((x) => x.userId).sort(), [owner.id, fac.id, scribe.id, m.id].sort(), 'members are the group members');
      const mf = sessionMember(s, fac);
      const ms = sessionMember(s, scribe);
      const mm = sessionMember(s, m);
      const mo = sessionMember(s, owner);
      assert.ok(mf.roles.includes('FACILITATOR'), JSON.stringify(mf));
      assert.ok(!mf.roles.includes('SCRIBE'), JSON.stringify(mf));
      assert.ok(ms.roles.includes('SCRIBE'), JSON.stringify(ms));
      assert.ok(!ms.roles.includes('FACILITATOR'), JSON.stringify(ms));
      assert.deepEqual(mm.roles, ['PARTICIPANT']);
      assert.deepEqual(mo.roles, ['PARTICIPANT']);
      assert.equal(mf.groupRole, 'MEMBER');
      assert.equal(mm.groupRole, 'MOD');
      assert.equal(mo.groupRole, 'OWNER');
      assert.equal(mf.userName, fac.name);
      assert.equal(mo.userName, owner.name);
      for (const x of s.members) {
        assert.equal(x.attendance, 'NOT_JOINED');
        assert.equal(x.joinedAt, null);
      }
    });
  }

  test('a MOD may create sessions; facilitator_id / scribe_id in snake_case are accepted too', { timeout: T }, async () => {
    const [owner, mod, fac, scribe] = await newUsers('Owner', 'Mod', 'Fac', 'Scribe');
    const g = await groupWith(owner, [[mod, 'MOD'], fac, scribe]);
    const s = expectStatus(
      await api('POST', `${V1}/groups/${g.id}/sessions`, {
        as: mod,
        body: { rounds: [{ prompt: 'Q' }], facilitator_id: fac.id, scribe_id: scribe.id },
      }),
      201,
    );
    assert.equal(s.createdBy, mod.id);
    assert.equal(s.facilitatorId, fac.id);
    assert.equal(s.scribeId, scribe.id);
  });

  test(`${LIMITS.maxRounds} rounds are fine (numbered 1..${LIMITS.maxRounds}); ${LIMITS.maxRounds + 1} → 400`, { timeout: T }, async () => {
    const [owner] = await newUsers('Owner');
    const g = await groupWith(owner);
    const rounds = Array.from({ length: LIMITS.maxRounds }, (_, i) => ({ prompt: `Q${i + 1}` }));
    const s = await createSession(owner, g.id, { rounds });
    assert.deepEqual(
      s.rounds.map((r) => r.roundIndex),
      rounds.map((_, i) => i + 1),
    );
    expectError(
      await api('POST', `${V1}/groups/${g.id}/sessions`, { as: owner, body: { rounds: [...rounds, { prompt: 'one too many' }] } }),
      400,
      'too many rounds',
    );
  });

  test('400: no rounds, an empty list, an empty or too long prompt, a facilitator or scribe who is not a member', { timeout: T }, async () => {
    const [owner, m, outsider] = await newUsers('Owner', 'M', 'Out');
    const g = await groupWith(owner, [m]);
    const path = `${V1}/groups/${g.id}/sessions`;
    const bad = [
      [{}, 'no rounds'],
      [{ rounds: [] }, 'empty rounds'],
      [{ rounds: 'Q1' }, 'rounds not a list'],
      [{ rounds: [{ prompt: '' }] }, 'empty prompt'],
      [{ rounds: [{}] }, 'round without prompt'],
      [{ rounds: [{ prompt: 'ok' }, { prompt: 'p'.repeat(LIMITS.maxPromptLength + 1) }] }, 'too long prompt'],
      [{ rounds: [{ prompt: 'ok' }], facilitatorId: outsider.id }, 'facilitator not a member'],
      [{ rounds: [{ prompt: 'ok' }], scribeId: outsider.id }, 'scribe not a member'],
    ];
    for (const [body, what] of bad) expectError(await api('POST', path, { as: owner, body }), 400, what);
    const s = await createSession(owner, g.id, { rounds: [{ prompt: 'p'.repeat(LIMITS.maxPromptLength) }] });
    assert.equal(s.rounds[0].prompt.length, LIMITS.maxPromptLength);
  });

  test('403 for a plain MEMBER and an outsider; 404 for an unknown group', { timeout: T }, async () => {
    const [owner, m, outsider] = await newUsers('Owner', 'M', 'Out');
    const g = await groupWith(owner, [m]);
    const body = { rounds: [{ prompt: 'Q' }] };
    expectError(await api('POST', `${V1}/groups/${g.id}/sessions`, { as: m, body }), 403, 'MEMBER');
    expectError(await api('POST', `${V1}/groups/${g.id}/sessions`, { as: outsider, body }), 403, 'outsider');
    expectError(await api('POST', `${V1}/groups/${randomUUID()}/sessions`, { as: owner, body }), 404, 'unknown group');
  });
});

suite('study-groups REST: reading sessions', () => {
  for (const prefix of PREFIXES) {
    test(`GET ${prefix}/groups/:id/sessions → {sessions} without rounds and members; 403; 404`, { timeout: T }, async () => {
      const ctx = await classroom();
      const second = await createSession(ctx.owner, ctx.gid, { title: 'Second', rounds: [{ prompt: 'Q' }] });
      const other = await classroom();
      const res = expectStatus(await api('GET', `${prefix}/groups/${ctx.gid}/sessions`, { as: ctx.member }), 200);
      assert.ok(Array.isArray(res), JSON.stringify(res));
      assert.deepEqual(res.map((s) => s.id).sort(), [ctx.sid, second.id].sort());
      assert.ok(!res.some((s) => s.id === other.sid));
      for (const s of res) {
        assertKeys(s, ['id', 'groupId', 'title', 'status', 'facilitatorId', 'scribeId', 'createdBy', 'createdAt'], 'listed session');
        assert.ok(!('rounds' in s), `listed without rounds: ${JSON.stringify(s)}`);
        assert.ok(!('members' in s), `listed without members: ${JSON.stringify(s)}`);
        assert.equal(s.groupId, ctx.gid);
      }
      expectError(await api('GET', `${prefix}/groups/${ctx.gid}/sessions`, { as: ctx.outsider }), 403);
      expectError(await api('GET', `${prefix}/groups/${randomUUID()}/sessions`, { as: ctx.owner }), 404);
    });

    test(`GET ${prefix}/group-sessions/:id → 200 for every member; 403 outsider; 404 unknown`, { timeout: T }, async () => {
      const ctx = await classroom();
      for (const u of [ctx.owner, ctx.fac, ctx.scribe, ctx.member]) {
        const s = expectStatus(await api('GET', `${prefix}/group-sessions/${ctx.sid}`, { as: u }), 200, u.label);
        assertSessionShape(s);
        assert.equal(s.id, ctx.sid);
        assert.equal(s.rounds.length, 2);
      }
      expectError(await api('GET', `${prefix}/group-sessions/${ctx.sid}`, { as: ctx.outsider }), 403);
      expectError(await api('GET', `${prefix}/group-sessions/${randomUUID()}`, { as: ctx.owner }), 404);
    });
  }

  test('a member added after the session was created is one of its members', { timeout: T }, async () => {
    const ctx = await classroom();
    const [late] = await newUsers('Late');
    expectStatus(await api('POST', `${V1}/groups/${ctx.gid}/members`, { as: ctx.owner, body: { userId: late.id } }), 201);
    const s = await getSession(late, ctx.sid);
    const m = sessionMember(s, late);
    assert.ok(m, 'listed');
    assert.deepEqual(m.roles, ['PARTICIPANT']);
    assert.equal(m.attendance, 'NOT_JOINED');
  });
});

suite('study-groups REST: attendance (POST /group-sessions/:id/join)', () => {
  for (const prefix of PREFIXES) {
    test(`POST ${prefix}/group-sessions/:id/join → 200 JOINED; emits session.updated ATTENDANCE once`, { timeout: T }, async () => {
      const ctx = await classroom();
      const watcher = await sgJoined(ctx.fac, ctx.sid);
      const res = expectStatus(await api('POST', `${prefix}/group-sessions/${ctx.sid}/join`, { as: ctx.member }), 200);
      assert.equal(res.sessionId, ctx.sid);
      assert.equal(res.userId, ctx.member.id);
      assert.equal(res.attendance, 'JOINED');
      assertIsoTime(res.joinedAt, 'joinedAt');
      const ev = await watcher.take('session.updated', (d) => d.reason === 'ATTENDANCE');
      assert.equal(ev.sessionId, ctx.sid);
      assert.equal(ev.userId, ctx.member.id);
      assert.equal(ev.attendance, 'JOINED');

      const s = await getSession(ctx.owner, ctx.sid);
      const m = sessionMember(s, ctx.member);
      assert.equal(m.attendance, 'JOINED');
      assertSameTime(m.joinedAt, res.joinedAt, 'joinedAt in the session');
      assert.equal(sessionMember(s, ctx.scribe).attendance, 'NOT_JOINED');

      // again: 200, same joinedAt, no second announcement (marker: a later chat)
      const mark = watcher.mark();
      const again = expectStatus(await api('POST', `${prefix}/group-sessions/${ctx.sid}/join`, { as: ctx.member }), 200);
      assert.equal(again.attendance, 'JOINED');
      assertSameTime(again.joinedAt, res.joinedAt, 'the first join time is kept');
      const text = `marker ${randomUUID()}`;
      expectStatus(await postChat(ctx.owner, ctx.gid, ctx.sid, text), 201);
      await watcher.take('chat.message', (d) => d.message === text);
      watcher.none(mark, 'session.updated', 'second attendance of the same member');
    });
  }

  test('attendance works while RUNNING too; 403 outsider; 404 unknown; 400 once finished', { timeout: T }, async () => {
    const ctx = await classroom({ start: true });
    const watcher = await sgJoined(ctx.owner, ctx.sid);
    await attendSession(ctx.scribe, ctx.sid);
    await watcher.take('session.updated', (d) => d.reason === 'ATTENDANCE' && d.userId === ctx.scribe.id);
    expectError(await api('POST', `${V1}/group-sessions/${ctx.sid}/join`, { as: ctx.outsider }), 403);
    expectError(await api('POST', `${V1}/group-sessions/${randomUUID()}/join`, { as: ctx.member }), 404);
    expectStatus(await api('POST', `${V1}/group-sessions/${ctx.sid}/finish`, { as: ctx.fac }), 200);
    expectError(await api('POST', `${V1}/group-sessions/${ctx.sid}/join`, { as: ctx.member }), 400, 'finished');
  });
});

suite('study-groups REST: start, status and finish', () => {
  for (const prefix of PREFIXES) {
    test(`PUT ${prefix}/group-sessions/:id/start by the facilitator → 200 RUNNING; emits session.started to every joined socket`, { timeout: T }, async () => {
      const ctx = await classroom();
      const a = await sgJoined(ctx.member, ctx.sid);
      const f = await sgJoined(ctx.fac, ctx.sid);
      const res = await api('PUT', `${prefix}/group-sessions/${ctx.sid}/start`, { as: ctx.fac });
      const s = expectStatus(res, 200);
      assertSessionShape(s);
      assert.equal(s.status, 'RUNNING');
      assert.equal(s.startedBy, ctx.fac.id);
      assertIsoTime(s.startedAt, 'startedAt');
      assert.equal(s.endedAt, null);
      for (const c of [a, f]) {
        const ev = await c.take('session.started');
        assert.equal(ev.sessionId, ctx.sid);
        assert.equal(ev.status, 'RUNNING');
        assert.equal(ev.startedBy, ctx.fac.id);
      }
      const got = await getSession(ctx.member, ctx.sid);
      assert.equal(got.status, 'RUNNING');
      assert.equal(got.startedBy, ctx.fac.id);
    });
  }

  test('start: 400 when not CREATED (twice); 403 plain member / scribe / outsider; 404 unknown', { timeout: T }, async () => {
    const ctx = await classroom();
    expectError(await api('PUT', `${V1}/group-sessions/${ctx.sid}/start`, { as: ctx.member }), 403, 'plain member');
    expectError(await api('PUT', `${V1}/group-sessions/${ctx.sid}/start`, { as: ctx.scribe }), 403, 'scribe');
    expectError(await api('PUT', `${V1}/group-sessions/${ctx.sid}/start`, { as: ctx.outsider }), 403, 'outsider');
    expectError(await api('PUT', `${V1}/group-sessions/${randomUUID()}/start`, { as: ctx.fac }), 404, 'unknown');
    await startSession(ctx.fac, ctx.sid);
    expectError(await api('PUT', `${V1}/group-sessions/${ctx.sid}/start`, { as: ctx.fac }), 400, 'already RUNNING');
    expectStatus(await api('POST', `${V1}/group-sessions/${ctx.sid}/finish`, { as: ctx.fac }), 200);
    expectError(await api('PUT', `${V1}/group-sessions/${ctx.sid}/start`, { as: ctx.fac }), 400, 'FINISHED');
  });

  test('a group OWNER or MOD who is not the facilitator is a manager too (start, finish)', { timeout: T }, async () => {
    const ctx = await classroom({ extra: ['mod'] });
    expectStatus(await api('POST', `${V1}/groups/${ctx.gid}/members`, { as: ctx.owner, body: { userId: ctx.mod.id, role: 'MOD' } }), 200);
    const s = await startSession(ctx.owner, ctx.sid);
    assert.equal(s.startedBy, ctx.owner.id);
    const s2 = await createSession(ctx.owner, ctx.gid, { facilitatorId: ctx.fac.id });
    const started = await startSession(ctx.mod, s2.id);
    assert.equal(started.startedBy, ctx.mod.id);
    const fin = expectStatus(await api('POST', `${V1}/group-sessions/${s2.id}/finish`, { as: ctx.mod }), 200);
    assert.equal(fin.status, 'FINISHED');
  });

  for (const prefix of PREFIXES) {
    test(`POST ${prefix}/group-sessions/:id/finish → 200 FINISHED; emits session.ended {endedBy}`, { timeout: T }, async () => {
      const ctx = await classroom({ start: true });
      const c = await sgJoined(ctx.member, ctx.sid);
      const s = expectStatus(await api('POST', `${prefix}/group-sessions/${ctx.sid}/finish`, { as: ctx.fac }), 200);
      assertSessionShape(s);
      assert.equal(s.status, 'FINISHED');
      assertIsoTime(s.endedAt, 'endedAt');
      const ev = await c.take('session.ended');
      assert.equal(ev.sessionId, ctx.sid);
      assert.equal(ev.status, 'FINISHED');
      assert.equal(ev.endedBy, ctx.fac.id);
      assert.equal((await getSession(ctx.member, ctx.sid)).status, 'FINISHED');
    });
  }

  test('finish: 400 already finished; 403 plain member / outsider; 404 unknown', { timeout: T }, async () => {
    const ctx = await classroom({ start: true });
    expectError(await api('POST', `${V1}/group-sessions/${ctx.sid}/finish`, { as: ctx.member }), 403, 'plain member');
    expectError(await api('POST', `${V1}/group-sessions/${ctx.sid}/finish`, { as: ctx.outsider }), 403, 'outsider');
    expectError(await api('POST', `${V1}/group-sessions/${randomUUID()}/finish`, { as: ctx.fac }), 404, 'unknown');
    expectStatus(await api('POST', `${V1}/group-sessions/${ctx.sid}/finish`, { as: ctx.fac }), 200);
    expectError(await api('POST', `${V1}/group-sessions/${ctx.sid}/finish`, { as: ctx.fac }), 400, 'already finished');
  });

  for (const prefix of PREFIXES) {
    test(`PUT ${prefix}/group-sessions/:id/status RUNNING → session.started; FINISHED → session.ended`, { timeout: T }, async () => {
      const ctx = await classroom();
      const c = await sgJoined(ctx.member, ctx.sid);
      const s = expectStatus(await api('PUT', `${prefix}/group-sessions/${ctx.sid}/status`, { as: ctx.fac, body: { status: 'RUNNING' } }), 200);
      assert.equal(s.status, 'RUNNING');
      assert.equal(s.startedBy, ctx.fac.id);
      const started = await c.take('session.started');
      assert.equal(started.status, 'RUNNING');
      assert.equal(started.startedBy, ctx.fac.id);
      assert.equal(started.sessionId, ctx.sid);
      const f = expectStatus(await api('PUT', `${prefix}/group-sessions/${ctx.sid}/status`, { as: ctx.owner, body: { status: 'FINISHED' } }), 200);
      assert.equal(f.status, 'FINISHED');
      const ended = await c.take('session.ended');
      assert.equal(ended.status, 'FINISHED');
      assert.equal(ended.endedBy, ctx.owner.id);
      assert.equal(ended.sessionId, ctx.sid);
    });
  }

  test('status: 400 for another status, a missing one, or an illegal change; 403; 404', { timeout: T }, async () => {
    const ctx = await classroom();
    const put = (as, body, sid = ctx.sid) => api('PUT', `${V1}/group-sessions/${sid}/status`, { as, body });
    expectError(await put(ctx.fac, { status: 'CREATED' }), 400, 'CREATED');
    expectError(await put(ctx.fac, { status: 'PAUSED' }), 400, 'unknown status');
    expectError(await put(ctx.fac, { status: 'running' }), 400, 'lowercase');
    expectError(await put(ctx.fac, {}), 400, 'missing status');
    expectError(await put(ctx.member, { status: 'RUNNING' }), 403, 'plain member');
    expectError(await put(ctx.outsider, { status: 'RUNNING' }), 403, 'outsider');
    expectError(await put(ctx.fac, { status: 'RUNNING' }, randomUUID()), 404, 'unknown');
    expectStatus(await put(ctx.fac, { status: 'RUNNING' }), 200);
    expectError(await put(ctx.fac, { status: 'RUNNING' }), 400, 'RUNNING → RUNNING');
    expectStatus(await put(ctx.fac, { status: 'FINISHED' }), 200);
    expectError(await put(ctx.fac, { status: 'RUNNING' }), 400, 'FINISHED → RUNNING');
    expectError(await put(ctx.fac, { status: 'FINISHED' }), 400, 'FINISHED → FINISHED');
  });

  test('a finished session refuses attendance, prompt changes, events and chat with 400', { timeout: T }, async () => {
    const ctx = await classroom({ start: true, attend: ['member'] });
    expectStatus(await api('POST', `${V1}/group-sessions/${ctx.sid}/finish`, { as: ctx.fac }), 200);
    expectError(await api('POST', `${V1}/group-sessions/${ctx.sid}/join`, { as: ctx.scribe }), 400, 'join');
    expectError(
      await api('PATCH', `${V1}/group-sessions/${ctx.sid}/rounds/1/prompt`, { as: ctx.fac, body: { prompt: 'late' } }),
      400,
      'prompt',
    );
    expectError(await postEvent(ctx.member, ctx.sid, 1, 'PI_VOTE_SUBMIT', { choice: 'A' }), 400, 'event');
    expectError(await postChat(ctx.member, ctx.gid, ctx.sid, 'late'), 400, 'chat');
    expectError(
      await api('POST', `${V1}/group-sessions/${ctx.sid}/rounds/1/advance`, { as: ctx.fac, body: { to_status: 'DISCUSSING' } }),
      400,
      'advance',
    );
  });
});
