// Study-groups app: the AprendeAI frontend's own requests (bomyoungkim-gmail/aprendeai-app,
// commit 1cb65f5, folder frontend/), replayed as its code sends them, and the answers checked
// against what its code reads. Where the document is silent, that frontend and its backend are
// the contract (docs/study-groups.md "The AprendeAI frontend").
//
// The frontend's axios client has baseURL `.../api/v1` and `withCredentials: true`; its socket
// is `io(<api>/study-groups, {auth: {token}})`, i.e. namespace /api/v1/study-groups, and emits
// joinSession / leaveSession without an ack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NSP_V1,
  SG_URL,
  STEP_TIMEOUT,
  T,
  V1,
  api,
  assertIsoTime,
  createGroup,
  expectError,
  expectStatus,
  newUser,
  newUsers,
  randomUUID,
  remember,
  sgConnect,
  suite,
  until,
} from './study-groups-helpers.js';

const ORIGIN = 'http://localhost:3000';
const SESSION_STATUSES = ['CREATED', 'RUNNING', 'POST', 'FINISHED']; // lib/types/study-groups.ts
const ROUND_STATUSES = ['CREATED', 'VOTING', 'DISCUSSING', 'REVOTING', 'EXPLAINING', 'DONE'];

/** The frontend's REST call: everything under /api/v1. */
const call = (method, path, user, body) => api(method, V1 + path, { as: user, body });

/** useInviteGroupMember: POST /groups/:gid/members/invite {userId, role}. */
async function invite(by, gid, user, role = 'MEMBER') {
  return expectStatus(await call('POST', `/groups/${gid}/members/invite`, by, { userId: user.id, role }), 201, `invite ${user.label}`);
}

/** useCreateSession: POST /group-sessions?groupId= {contentId, mode, layer, roundsCount}. */
async function createSprint(by, gid, { roundsCount = 2, layer = 'L1', contentId = `content-${randomUUID().slice(0, 8)}` } = {}) {
  const res = await call('POST', `/group-sessions?groupId=${gid}`, by, { contentId, mode: 'PI_SPRINT', layer, roundsCount });
  return expectStatus(res, 201, 'create session (frontend form)');
}

/** A group of `owner` and `other` (invited as MEMBER) with a frontend-made session. */
async function sprint(opts = {}) {
  const [owner, other] = await newUsers('Ana', 'Bruno');
  await remember(owner, other);
  const group = expectStatus(await call('POST', '/groups', owner, { name: `Biology ${randomUUID().slice(0, 4)}` }), 201);
  await invite(owner, group.id, other);
  const session = await createSprint(owner, group.id, opts);
  return { owner, other, gid: group.id, sid: session.id, session };
}

/** The frontend's socket: namespace /api/v1/study-groups, joinSession emitted without an ack. */
async function frontendSocket(user, sid) {
  const c = await sgConnect(user, { nsp: NSP_V1 });
  if (sid) c.emit('joinSession', { sessionId: sid });
  return c;
}

/** Wait until `user` attends session `sid` (the socket join is not acknowledged). */
async function attending(reader, sid, user) {
  await until(async () => {
    const s = expectStatus(await call('GET', `/group-sessions/${sid}`, reader), 200);
    return s.members.find((m) => m.userId === user.id)?.attendanceStatus === 'JOINED';
  }, `${user.label} attends`);
}

/** The checks use-sprint-interface.ts and its components make on a session. */
function assertSessionAsFrontendReadsIt(s, { gid, me, roundsCount }) {
  assert.ok(SESSION_STATUSES.includes(s.status), `status ${s.status}`);
  assert.equal(s.groupId, gid, 'SessionContext checks sessionData.groupId');
  assert.equal(typeof s.contentId, 'string', 'contentId (ReferencePanel)');
  assert.equal(s.rounds.length, roundsCount);
  s.rounds.forEach((r, i) => {
    assert.equal(r.roundIndex, i + 1);
    assert.ok(ROUND_STATUSES.includes(r.status), `round status ${r.status}`);
    assert.equal(typeof r.promptJson, 'object', 'promptJson is never absent');
    assert.equal(typeof r.promptJson.prompt_text, 'string');
    assert.ok(r.promptJson.options === null || Array.isArray(r.promptJson.options));
    for (const k of ['voteSec', 'discussSec', 'revoteSec', 'explainSec']) {
      assert.equal(typeof r.timingJson?.[k], 'number', `timingJson.${k}`);
    }
  });
  const mine = s.members.find((m) => m.userId === me.id);
  assert.ok(mine, 'mySessionMember = session.members.find(m => m.userId === user.id)');
  assert.ok(['FACILITATOR', 'SCRIBE', 'PARTICIPANT'].includes(mine.assignedRole), mine.assignedRole);
  assert.equal(mine.user.name, me.name);
  const groupRole = s.group?.members?.find((m) => m.userId === me.id)?.role;
  assert.ok(['OWNER', 'MOD', 'MEMBER'].includes(groupRole), 'session.group.members[].role');
  assert.equal(typeof s.group.name, 'string', 'SprintTopBar shows session.group.name');
}

suite('study-groups frontend: CORS with credentials', () => {
  test('a preflight from the frontend origin is answered with that origin and Allow-Credentials: true', { timeout: T }, async () => {
    const res = await fetch(`${SG_URL}${V1}/groups`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      signal: AbortSignal.timeout(STEP_TIMEOUT),
    });
    assert.ok(res.status < 300, `preflight ${res.status}`);
    assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    for (const h of ['authorization', 'content-type']) assert.ok(allowed.includes(h), `allow-headers ${allowed}`);
  });

  test('the actual request carries the echoed origin, credentials and the exposed paging header', { timeout: T }, async () => {
    const user = await newUser('Cors');
    const res = await api('GET', `${V1}/groups`, { as: user, headers: { origin: ORIGIN } });
    expectStatus(res, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /x-next-before/i);
    assert.match(res.headers.get('vary') ?? '', /origin/i, 'an echoed origin varies by Origin');
  });
});

suite('study-groups frontend: groups, members and invitations', () => {
  test('useGroups: GET /groups is an array with _count; GroupCard reads name, createdAt and counts', { timeout: T }, async () => {
    const [owner, other] = await newUsers('Ana', 'Bruno');
    const created = expectStatus(await call('POST', '/groups', owner, { name: 'Física' }), 201);
    await invite(owner, created.id, other);
    await createSprint(owner, created.id);
    const list = expectStatus(await call('GET', '/groups', owner), 200);
    assert.ok(Array.isArray(list), JSON.stringify(list));
    const g = list.find((x) => x.id === created.id);
    assert.equal(g.name, 'Física');
    assertIsoTime(g.createdAt);
    assert.deepEqual(g._count, { members: 2, contents: 0, sessions: 1 });
    assert.deepEqual(expectStatus(await call('GET', '/groups', await newUser('Nobody')), 200), []);
  });

  test('useGroup / GroupContext: members carry userId, role, status ACTIVE and user {name, email}; ownerUserId', { timeout: T }, async () => {
    const [owner, other] = await newUsers('Ana', 'Bruno');
    await remember(other);
    const g = await createGroup(owner);
    await invite(owner, g.id, other, 'MOD');
    const got = expectStatus(await call('GET', `/groups/${g.id}`, other), 200);
    assert.equal(got.ownerUserId, owner.id);
    assert.deepEqual(got._count, { members: 2, contents: 0, sessions: 0 }, 'the group page reads _count.sessions');
    assert.ok(got.members.some((m) => m.userId === other.id), 'GroupContext: isMember');
    const byId = Object.fromEntries(got.members.map((m) => [m.userId, m]));
    assert.equal(byId[owner.id].role, 'OWNER');
    assert.equal(byId[other.id].role, 'MOD');
    for (const [u, m] of [[owner, byId[owner.id]], [other, byId[other.id]]]) {
      assert.equal(m.user.name, u.name, 'MembersTab: member.user?.name');
      assert.equal(m.user.email, u.email);
      assert.equal(m.status, 'ACTIVE');
    }
  });

  test('invite: 201 {message}; the user is a member at once; 409 again; 403 for a MEMBER; 400 bad role; 404 unknown group', { timeout: T }, async () => {
    const [owner, a, b] = await newUsers('Ana', 'Bruno', 'Carla');
    const g = await createGroup(owner);
    const res = await invite(owner, g.id, a);
    assert.equal(res.message, 'Member invited successfully');
    assert.equal(res.member.userId, a.id);
    assert.equal(res.member.role, 'MEMBER');
    expectStatus(await call('GET', `/groups/${g.id}`, a), 200);
    expectError(await call('POST', `/groups/${g.id}/members/invite`, owner, { userId: a.id, role: 'MEMBER' }), 409, 'already a member');
    expectError(await call('POST', `/groups/${g.id}/members/invite`, a, { userId: b.id, role: 'MEMBER' }), 403, 'MEMBER invites');
    expectError(await call('POST', `/groups/${g.id}/members/invite`, owner, { userId: b.id, role: 'KING' }), 400, 'bad role');
    expectError(await call('POST', `/groups/${randomUUID()}/members/invite`, owner, { userId: b.id, role: 'MEMBER' }), 404);
    // the backend's snake_case field is accepted too
    expectStatus(await call('POST', `/groups/${g.id}/members/invite`, owner, { user_id: b.id, role: 'MEMBER' }), 201);
  });
});

suite('study-groups frontend: creating and opening a session', () => {
  test('POST /group-sessions?groupId= creates roundsCount rounds (prompts unset, VOTING, timers by layer); the frontend reads session.id', { timeout: T }, async () => {
    const ctx = await sprint({ roundsCount: 3 });
    const s = ctx.session;
    assert.equal(typeof s.id, 'string');
    assert.equal(s.status, 'CREATED');
    assert.equal(s.mode, 'PI_SPRINT');
    assert.equal(s.layer, 'L1');
    assert.deepEqual(s.rounds.map((r) => [r.roundIndex, r.status, r.promptJson.prompt_text, r.promptJson.options]), [
      [1, 'VOTING', '', null],
      [2, 'VOTING', '', null],
      [3, 'VOTING', '', null],
    ]);
    assert.deepEqual(s.rounds[0].timingJson, { voteSec: 60, discussSec: 180, revoteSec: 60, explainSec: 180 });
    const roles = Object.fromEntries(s.members.map((m) => [m.userId, m.assignedRole]));
    assert.deepEqual(roles, { [ctx.owner.id]: 'FACILITATOR', [ctx.other.id]: 'SCRIBE' }, 'the creator facilitates, another member writes');
    const advanced = await createSprint(ctx.owner, ctx.gid, { layer: 'L3', roundsCount: 1 });
    assert.deepEqual(advanced.rounds[0].timingJson, { voteSec: 90, discussSec: 240, revoteSec: 90, explainSec: 240 });
    // SessionsTab: an array, newest first, with _count.rounds
    const list = expectStatus(await call('GET', `/groups/${ctx.gid}/sessions`, ctx.other), 200);
    assert.deepEqual(list.map((x) => [x.id, x._count.rounds]), [[advanced.id, 1], [s.id, 3]]);
    for (const x of list) assertIsoTime(x.createdAt);
  });

  test('create session errors: 400 without groupId / bad roundsCount, contentId, mode or layer; 403 MEMBER or outsider; 404 unknown group', { timeout: T }, async () => {
    const ctx = await sprint();
    const outsider = await newUser('Outsider');
    const body = { contentId: 'c1', mode: 'PI_SPRINT', layer: 'L1', roundsCount: 2 };
    expectError(await call('POST', '/group-sessions', ctx.owner, body), 400, 'no groupId');
    for (const bad of [{ roundsCount: 0 }, { roundsCount: 51 }, { roundsCount: 'x' }, { contentId: '' }, { contentId: 7 }, { mode: 'X' }, { layer: 'L9' }]) {
      expectError(await call('POST', `/group-sessions?groupId=${ctx.gid}`, ctx.owner, { ...body, ...bad }), 400, JSON.stringify(bad));
    }
    expectError(await call('POST', `/group-sessions?groupId=${ctx.gid}`, ctx.other, body), 403, 'MEMBER');
    expectError(await call('POST', `/group-sessions?groupId=${ctx.gid}`, outsider, body), 403, 'outsider');
    expectError(await call('POST', `/group-sessions?groupId=${randomUUID()}`, ctx.owner, body), 404);
    // the backend's snake_case fields are accepted too
    const snake = expectStatus(await call('POST', `/group-sessions?groupId=${ctx.gid}`, ctx.owner, { content_id: 'c2', rounds_count: 1 }), 201);
    assert.equal(snake.contentId, 'c2');
  });

  test('SessionContext: GET /groups/:gid/sessions/:sid; the page: GET /group-sessions/:sid; both read as the frontend reads them', { timeout: T }, async () => {
    const ctx = await sprint();
    for (const me of [ctx.owner, ctx.other]) {
      const a = expectStatus(await call('GET', `/groups/${ctx.gid}/sessions/${ctx.sid}`, me), 200);
      const b = expectStatus(await call('GET', `/group-sessions/${ctx.sid}`, me), 200);
      assert.deepEqual(a, b);
      assertSessionAsFrontendReadsIt(a, { gid: ctx.gid, me, roundsCount: 2 });
    }
    const other = await sprint();
    expectError(await call('GET', `/groups/${ctx.gid}/sessions/${other.sid}`, ctx.owner), 404, "another group's session");
    expectError(await call('GET', `/groups/${other.gid}/sessions/${other.sid}`, ctx.owner), 403, 'not a member');
  });

  test("the facilitator sets a round's prompt and options ({prompt_text, options}); {prompt} keeps the options", { timeout: T }, async () => {
    const ctx = await sprint();
    const r = expectStatus(
      await call('PUT', `/group-sessions/${ctx.sid}/rounds/1/prompt`, ctx.owner, { prompt_text: 'Which is a prime?', options: ['4', '7', '9'] }),
      200,
    );
    assert.deepEqual(r.promptJson, { prompt_text: 'Which is a prime?', options: ['4', '7', '9'] });
    expectStatus(await call('PATCH', `/group-sessions/${ctx.sid}/rounds/1/prompt`, ctx.owner, { prompt: 'Which one is prime?' }), 200);
    const s = expectStatus(await call('GET', `/group-sessions/${ctx.sid}`, ctx.other), 200);
    assert.deepEqual(s.rounds[0].promptJson, { prompt_text: 'Which one is prime?', options: ['4', '7', '9'] });
    expectStatus(await call('PUT', `/group-sessions/${ctx.sid}/rounds/1/prompt`, ctx.owner, { prompt_text: 'Open question', options: null }), 200);
    const s2 = expectStatus(await call('GET', `/group-sessions/${ctx.sid}`, ctx.other), 200);
    assert.equal(s2.rounds[0].promptJson.options, null);
    const tooMany = Array.from({ length: 11 }, (_, i) => `o${i}`);
    expectError(await call('PUT', `/group-sessions/${ctx.sid}/rounds/1/prompt`, ctx.owner, { prompt_text: 'x', options: tooMany }), 400);
    expectError(await call('PUT', `/group-sessions/${ctx.sid}/rounds/1/prompt`, ctx.other, { prompt_text: 'x' }), 403, 'not the facilitator');
  });
});

suite('study-groups frontend: a round as two members play it', () => {
  test('joinSession makes a member attending: votes, re-votes, the explanation and the shared card, with the frontend\'s bodies', { timeout: T * 2 }, async () => {
    const ctx = await sprint();
    const { owner, other, sid } = ctx;
    expectStatus(await call('PUT', `/group-sessions/${sid}/rounds/1/prompt`, owner, { prompt_text: 'Which is a prime?', options: ['4', '7'] }), 200);
    const late = await newUser('Late');
    await invite(owner, ctx.gid, late);

    const a = await frontendSocket(owner, sid);
    const b = await frontendSocket(other, sid);
    await attending(owner, sid, owner);
    await attending(owner, sid, other);
    expectStatus(await call('PUT', `/group-sessions/${sid}/start`, owner), 200);

    // a member who never joined the session's room is not attending
    const refused = expectError(
      await call('POST', `/group-sessions/${sid}/events`, late, { roundIndex: 1, eventType: 'PI_VOTE_SUBMIT', payload: { choice: '7', rationale: '' } }),
      403,
    );
    assert.match(refused.message, /joinSession/);

    const vote = (u, eventType, choice) =>
      call('POST', `/group-sessions/${sid}/events`, u, { roundIndex: 1, eventType, payload: { choice, rationale: 'because' } });
    expectStatus(await vote(owner, 'PI_VOTE_SUBMIT', '7'), 201);
    const gate = expectError(await call('POST', `/group-sessions/${sid}/rounds/1/advance`, owner, { toStatus: 'DISCUSSING' }), 409);
    assert.deepEqual(gate.missing, [other.id], 'the socket-joined member is waited for');
    expectStatus(await vote(other, 'PI_VOTE_SUBMIT', '4'), 201);
    await b.take('vote.submitted', (d) => d.userId === other.id);

    // RoundPanel: events.find(e => e.eventType === 'PI_VOTE_SUBMIT' && e.userId === user.id)
    const events = expectStatus(await call('GET', `/group-sessions/${sid}/events?roundIndex=1`, other), 200);
    assert.ok(Array.isArray(events), JSON.stringify(events));
    const mine = events.find((e) => e.eventType === 'PI_VOTE_SUBMIT' && e.userId === other.id);
    assert.deepEqual(mine.payloadJson, { choice: '4', rationale: 'because' });
    assert.equal(mine.round.roundIndex, 1);
    assert.deepEqual(expectStatus(await call('GET', `/group-sessions/${sid}/events?roundIndex=2`, other), 200), []);

    // useAdvanceRound sends {toStatus}
    const advanced = expectStatus(await call('POST', `/group-sessions/${sid}/rounds/1/advance`, owner, { toStatus: 'DISCUSSING' }), 200);
    assert.equal(advanced.status, 'DISCUSSING');
    assert.ok(advanced.promptJson && advanced.timingJson);
    await a.take('round.advanced', (d) => d.status === 'DISCUSSING');
    expectStatus(await call('POST', `/group-sessions/${sid}/rounds/1/advance`, owner, { toStatus: 'REVOTING' }), 200);
    expectStatus(await vote(owner, 'PI_REVOTE_SUBMIT', '7'), 201);
    expectStatus(await vote(other, 'PI_REVOTE_SUBMIT', '7'), 201);
    await a.take('revote.submitted', (d) => d.userId === other.id);
    expectStatus(await call('POST', `/group-sessions/${sid}/rounds/1/advance`, owner, { toStatus: 'EXPLAINING' }), 200);

    // the SCRIBE's form (RoundPanel.handleExplanationSubmit)
    expectStatus(
      await call('POST', `/group-sessions/${sid}/events`, other, {
        roundIndex: 1,
        eventType: 'GROUP_EXPLANATION_SUBMIT',
        payload: { group_choice: '7', explanation: 'Only divisible by 1 and itself', key_terms: ['prime', 'divisor'], linked_highlight_ids: [] },
      }),
      201,
    );
    await a.take('sharedCard.created');
    expectStatus(await call('POST', `/group-sessions/${sid}/rounds/1/advance`, owner, { toStatus: 'DONE' }), 200);

    // useSharedCards → SharedCardsDrawer
    const cards = expectStatus(await call('GET', `/group-sessions/${sid}/shared-cards`, owner), 200);
    assert.ok(Array.isArray(cards), JSON.stringify(cards));
    assert.equal(cards.length, 1);
    assert.deepEqual(cards[0].cardJson, {
      prompt: 'Which is a prime?',
      groupAnswer: '7',
      explanation: 'Only divisible by 1 and itself',
      keyTerms: ['prime', 'divisor'],
      linkedHighlightIds: [],
    });
    assert.deepEqual(cards[0].round, { roundIndex: 1, status: 'DONE' });
    assert.equal(cards[0].createdByUserId, other.id);
    assertIsoTime(cards[0].createdAt);
    const s = expectStatus(await call('GET', `/group-sessions/${sid}`, owner), 200);
    assert.deepEqual(s.sharedCards[0].cardJson, cards[0].cardJson);
    expectError(await call('GET', `/group-sessions/${sid}/shared-cards`, await newUser('Outsider')), 403);
    expectError(await call('GET', `/group-sessions/${randomUUID()}/shared-cards`, owner), 404);
  });

  test('a finished session can still be opened on the socket without marking attendance', { timeout: T }, async () => {
    const ctx = await sprint();
    expectStatus(await call('POST', `/group-sessions/${ctx.sid}/finish`, ctx.owner), 200);
    const c = await sgConnect(ctx.other, { nsp: NSP_V1 });
    await c.join(ctx.sid);
    const s = expectStatus(await call('GET', `/group-sessions/${ctx.sid}`, ctx.owner), 200);
    assert.equal(s.members.find((m) => m.userId === ctx.other.id).attendanceStatus, 'NOT_JOINED');
  });
});

suite('study-groups frontend: chat', () => {
  test('ChatPanel: POST {roundIndex, message}; live chat.message has roundId, user.name, createdAt, userRole; history is an array of that round', { timeout: T }, async () => {
    const ctx = await sprint();
    const { owner, other, sid } = ctx;
    const rounds = ctx.session.rounds;
    const a = await frontendSocket(owner, sid);
    await attending(owner, sid, owner);
    expectStatus(await call('PUT', `/group-sessions/${sid}/start`, owner), 200);

    const sent = expectStatus(await call('POST', `/groups/sessions/${sid}/chat`, other, { roundIndex: 1, message: 'I think <b>7</b>' }), 201);
    assert.equal(sent.roundId, rounds[0].id, 'useSendChatMessage caches under data.roundId');
    const live = await a.take('chat.message', (d) => d.id === sent.id);
    // ChatPanel keeps it only when data.sessionId === sessionId && data.roundId === currentRound.id
    assert.equal(live.sessionId, sid);
    assert.equal(live.roundId, rounds[0].id);
    assert.equal(live.message, 'I think 7');
    assert.deepEqual(live.user, { id: other.id, name: other.name }, 'ChatMessage: message.user.name');
    assert.equal(live.userRole, 'SCRIBE');
    assert.equal(live.userId, other.id);
    assertIsoTime(live.createdAt);
    expectStatus(await call('POST', `/groups/sessions/${sid}/chat`, owner, { roundIndex: 2, message: 'round two' }), 201);
    expectStatus(await call('POST', `/groups/sessions/${sid}/chat`, owner, { roundIndex: 1, message: 'agreed' }), 201);

    // useChatHistory: GET /groups/sessions/:sid/chat?roundIndex=N → messages.map(...)
    const h1 = expectStatus(await call('GET', `/groups/sessions/${sid}/chat?roundIndex=1`, other), 200);
    assert.ok(Array.isArray(h1), JSON.stringify(h1));
    assert.deepEqual(h1.map((m) => m.message), ['I think 7', 'agreed']);
    assert.deepEqual(h1.map((m) => m.userRole), ['SCRIBE', 'FACILITATOR']);
    assert.deepEqual(h1.map((m) => m.user.name), [other.name, owner.name]);
    assert.ok(h1.every((m) => m.roundId === rounds[0].id));
    const h2 = expectStatus(await call('GET', `/groups/sessions/${sid}/chat?round_index=2`, other), 200);
    assert.deepEqual(h2.map((m) => m.message), ['round two']);
    const all = expectStatus(await call('GET', `/groups/${ctx.gid}/sessions/${sid}/chat`, other), 200);
    assert.equal(all.length, 3, 'no filter: every message');
    expectError(await call('GET', `/groups/sessions/${sid}/chat?roundIndex=9`, other), 400, 'unknown round');
    expectError(await call('GET', `/groups/sessions/${sid}/chat?roundIndex=x`, other), 400, 'not a number');
  });
});

suite('study-groups frontend: routes it calls that Roomwire does not serve', () => {
  test('an unknown route answers 404 and a wrong method 405, both in the JSON error shape', { timeout: T }, async () => {
    const ctx = await sprint();
    // ReferencePanel, useAddContent, groupsApi.deleteGroup: not served by Roomwire
    const missing = expectError(await call('GET', `/contents/${ctx.session.contentId}/highlights`, ctx.owner), 404);
    assert.match(missing.message, /GET/);
    expectError(await call('POST', `/groups/${ctx.gid}/contents`, ctx.owner, { contentId: 'c1' }), 404);
    expectError(await api('GET', `/no/such/route`, { token: null }), 404);
    const wrong = await call('DELETE', `/groups/${ctx.gid}`, ctx.owner);
    expectError(wrong, 405);
    assert.match(wrong.headers.get('allow') ?? '', /GET/);
    expectError(await call('PATCH', '/groups', ctx.owner, {}), 405);
    expectError(await call('GET', `/group-sessions`, ctx.owner), 405);
  });
});
