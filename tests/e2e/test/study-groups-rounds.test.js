// Study-groups app: the round machine (advance and its gates), prompt changes and session events
// (votes, re-votes, the group explanation, other types), and what each announces.
// Contract: docs/study-groups.md "The round", "Sessions", "Server events".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EVENT_KEYS,
  LIMITS,
  PREFIXES,
  ROUND_KEYS,
  T,
  UUID,
  V1,
  advance,
  api,
  assertIsoTime,
  assertKeys,
  assertFields,
  assertSameRecord,
  attendSession,
  classroom,
  expectError,
  expectStatus,
  getSession,
  postChat,
  postEvent,
  randomUUID,
  sgJoined,
  sorted,
  submit,
  suite,
} from './study-groups-helpers.js';

const roundOf = (session, index) => session.rounds.find((r) => r.roundIndex === index);

suite('study-groups rounds: the full machine', () => {
  test('VOTING → DISCUSSING → REVOTING → EXPLAINING → DONE, each step announced as round.advanced', { timeout: T }, async () => {
    const ctx = await classroom({ start: true, attend: ['fac', 'scribe', 'member'] });
    const watch = await sgJoined(ctx.owner, ctx.sid);
    const mem = await sgJoined(ctx.member, ctx.sid);
    const round1 = roundOf(ctx.session, 1);
    // The owner's socket joined the session: the owner attends, and the gates wait for it too.
    const voters = [ctx.fac, ctx.scribe, ctx.member, ctx.owner];

    // votes
    for (const u of voters) {
      const ev = await submit(u, ctx.sid, 1, 'PI_VOTE_SUBMIT', { choice: 'A', confidence: 3 });
      assertKeys(ev, EVENT_KEYS, 'event');
      assert.match(ev.id, UUID);
      assert.equal(ev.sessionId, ctx.sid);
      assert.equal(ev.roundId, round1.id);
      assert.equal(ev.roundIndex, 1);
      assert.equal(ev.userId, u.id);
      assert.equal(ev.eventType, 'PI_VOTE_SUBMIT');
      assert.deepEqual(ev.payload, { choice: 'A', confidence: 3 });
      assertIsoTime(ev.createdAt, 'createdAt');
      const vote = await watch.take('vote.submitted', (d) => d.userId === u.id);
      assertFields(
        vote,
        {
          sessionId: ctx.sid,
          roundId: round1.id,
          roundIndex: 1,
          userId: u.id,
          eventType: 'PI_VOTE_SUBMIT',
          eventId: ev.id,
          timestamp: undefined,
        },
        'vote.submitted',
      );
      assert.deepEqual(
        Object.keys(vote).sort(),
        ['eventId', 'eventType', 'roundId', 'roundIndex', 'sessionId', 'timestamp', 'userId'],
        'vote.submitted carries exactly these fields (no vote content)',
      );
    }

    const steps = [
      ['DISCUSSING', 'VOTING'],
      ['REVOTING', 'DISCUSSING'],
      ['EXPLAINING', 'REVOTING'],
      ['DONE', 'EXPLAINING'],
    ];
    for (const [to, from] of steps) {
      if (to === 'EXPLAINING') {
        for (const u of voters) {
          const ev = await submit(u, ctx.sid, 1, 'PI_REVOTE_SUBMIT', { choice: 'B' });
          const re = await watch.take('revote.submitted', (d) => d.userId === u.id);
          assert.equal(re.eventType, 'PI_REVOTE_SUBMIT');
          assert.equal(re.eventId, ev.id);
          assert.equal(re.roundId, round1.id);
          assert.equal(re.roundIndex, 1);
          assert.equal(re.sessionId, ctx.sid);
          assert.deepEqual(
            Object.keys(re).sort(),
            ['eventId', 'eventType', 'roundId', 'roundIndex', 'sessionId', 'timestamp', 'userId'],
            'revote.submitted carries exactly these fields (no content)',
          );
        }
      }
      if (to === 'DONE') {
        const card = await submit(ctx.scribe, ctx.sid, 1, 'GROUP_EXPLANATION_SUBMIT', { text: 'Because cells.' });
        const shared = await watch.take('sharedCard.created');
        assert.equal(shared.sessionId, ctx.sid);
        assert.equal(shared.roundId, round1.id);
        assert.equal(shared.roundIndex, 1);
        assert.equal(typeof shared.cardId, 'string', 'cardId');
        assert.ok(shared.cardId.length > 0, 'cardId');
        assert.equal(shared.userId, ctx.scribe.id);
        assert.equal(card.eventType, 'GROUP_EXPLANATION_SUBMIT');
      }
      const res = await advance(ctx.fac, ctx.sid, 1, to);
      const round = expectStatus(res, 200, `advance to ${to}`);
      assertKeys(round, ROUND_KEYS, 'round');
      assert.equal(round.id, round1.id);
      assert.equal(round.roundIndex, 1);
      assert.equal(round.status, to);
      assert.equal(round.prompt, 'Question 1');
      assertIsoTime(round.updatedAt);
      for (const c of [watch, mem]) {
        const ev = await c.take('round.advanced', (d) => d.status === to);
        assertFields(
          ev,
          {
            sessionId: ctx.sid,
            roundId: round1.id,
            roundIndex: 1,
            status: to,
            previousStatus: from,
            advancedBy: ctx.fac.id,
            timestamp: undefined,
          },
        );
      }
      assert.equal(roundOf(await getSession(ctx.member, ctx.sid), 1).status, to);
    }
    // round 2 is untouched
    assert.equal(roundOf(await getSession(ctx.member, ctx.sid), 2).status, 'VOTING');
    // nothing after DONE
    expectError(await advance(ctx.fac, ctx.sid, 1, 'VOTING'), 400, 'DONE → VOTING');
  });

  for (const prefix of PREFIXES) {
    test(`advance under ${prefix || 'no prefix'} with camelCase toStatus; an OWNER (not facilitator) may advance`, { timeout: T }, async () => {
      const ctx = await classroom({ start: true });
      // nobody attended: the vote gate has no one to wait for
      const res = await api('POST', `${prefix}/group-sessions/${ctx.sid}/rounds/2/advance`, { as: ctx.owner, body: { toStatus: 'DISCUSSING' } });
      const r = expectStatus(res, 200);
      assert.equal(r.roundIndex, 2);
      assert.equal(r.status, 'DISCUSSING');
    });
  }
});

suite('study-groups rounds: advance errors and gates', () => {
  test('409 DISCUSSING gate lists exactly the JOINED members without a vote (required, current, missing)', { timeout: T }, async () => {
    const ctx = await classroom({ start: true, attend: ['fac', 'scribe', 'member'] });
    // the owner never attends: not required
    await submit(ctx.fac, ctx.sid, 1, 'PI_VOTE_SUBMIT', { choice: 'A' });
    await submit(ctx.fac, ctx.sid, 1, 'PI_VOTE_SUBMIT', { choice: 'C' }); // voting again counts once
    const b = expectError(await advance(ctx.fac, ctx.sid, 1, 'DISCUSSING'), 409);
    assert.equal(b.required, 3);
    assert.equal(b.current, 1);
    assert.deepEqual(sorted(b.missing), sorted([ctx.scribe.id, ctx.member.id]));
    assert.equal((await getSession(ctx.fac, ctx.sid)).rounds[0].status, 'VOTING', 'not advanced');

    await submit(ctx.scribe, ctx.sid, 1, 'PI_VOTE_SUBMIT', { choice: 'B' });
    const b2 = expectError(await advance(ctx.fac, ctx.sid, 1, 'DISCUSSING'), 409);
    assert.deepEqual(b2.missing, [ctx.member.id]);
    assert.equal(b2.required, 3);
    assert.equal(b2.current, 2);

    // a vote in round 2 does not count for round 1
    await submit(ctx.member, ctx.sid, 2, 'PI_VOTE_SUBMIT', { choice: 'B' });
    const b3 = expectError(await advance(ctx.fac, ctx.sid, 1, 'DISCUSSING'), 409);
    assert.deepEqual(b3.missing, [ctx.member.id]);

    await submit(ctx.member, ctx.sid, 1, 'PI_VOTE_SUBMIT', { choice: 'B' });
    expectStatus(await advance(ctx.fac, ctx.sid, 1, 'DISCUSSING'), 200);
  });

  test('a member who attends late becomes required by the gate', { timeout: T }, async () => {
    const ctx = await classroom({ start: true, attend: ['fac'] });
    await submit(ctx.fac, ctx.sid, 1, 'PI_VOTE_SUBMIT', { choice: 'A' });
    await attendSession(ctx.member, ctx.sid);
    const b = expectError(await advance(ctx.fac, ctx.sid, 1, 'DISCUSSING'), 409);
    assert.deepEqual(b.missing, [ctx.member.id]);
    assert.equal(b.required, 2);
    assert.equal(b.current, 1);
  });

  test('409 EXPLAINING gate counts re-votes; 409 DONE gate needs the explanation (missing: [scribeId])', { timeout: T }, async () => {
    const ctx = await classroom({ start: true, attend: ['fac', 'member'] });
    for (const u of [ctx.fac, ctx.member]) await submit(u, ctx.sid, 1, 'PI_VOTE_SUBMIT', { choice: 'A' });
    expectStatus(await advance(ctx.fac, ctx.sid, 1, 'DISCUSSING'), 200);
    expectStatus(await advance(ctx.fac, ctx.sid, 1, 'REVOTING'), 200);
    // first-phase votes do not count as re-votes
    const b = expectError(await advance(ctx.fac, ctx.sid, 1, 'EXPLAINING'), 409);
    assert.equal(b.required, 2);
    assert.equal(b.current, 0);
    assert.deepEqual(sorted(b.missing), sorted([ctx.fac.id, ctx.member.id]));
    await submit(ctx.member, ctx.sid, 1, 'PI_REVOTE_SUBMIT', { choice: 'B' });
    const b2 = expectError(await advance(ctx.fac, ctx.sid, 1, 'EXPLAINING'), 409);
    assert.deepEqual(b2.missing, [ctx.fac.id]);
    assert.equal(b2.current, 1);
    await submit(ctx.fac, ctx.sid, 1, 'PI_REVOTE_SUBMIT', { choice: 'B' });
    expectStatus(await advance(ctx.fac, ctx.sid, 1, 'EXPLAINING'), 200);
    const b3 = expectError(await advance(ctx.fac, ctx.sid, 1, 'DONE'), 409);
    assert.equal(b3.required, 1);
    assert.equal(b3.current, 0);
    assert.deepEqual(b3.missing, [ctx.scribe.id]);
  });

  test('400 for a status that is not the next one, an unknown or a missing status', { timeout: T }, async () => {
    const ctx = await classroom({ start: true });
    expectError(await advance(ctx.fac, ctx.sid, 1, 'REVOTING'), 400, 'VOTING → REVOTING');
    expectError(await advance(ctx.fac, ctx.sid, 1, 'DONE'), 400, 'VOTING → DONE');
    expectError(await advance(ctx.fac, ctx.sid, 1, 'VOTING'), 400, 'VOTING → VOTING');
    expectError(await advance(ctx.fac, ctx.sid, 1, 'FINISHED'), 400, 'unknown status');
    expectError(await advance(ctx.fac, ctx.sid, 1, 'discussing'), 400, 'lowercase');
    expectError(await api('POST', `${V1}/group-sessions/${ctx.sid}/rounds/1/advance`, { as: ctx.fac, body: {} }), 400, 'missing');
    expectStatus(await advance(ctx.fac, ctx.sid, 1, 'DISCUSSING'), 200);
    expectError(await advance(ctx.fac, ctx.sid, 1, 'DISCUSSING'), 400, 'DISCUSSING → DISCUSSING');
    expectError(await advance(ctx.fac, ctx.sid, 1, 'EXPLAINING'), 400, 'DISCUSSING → EXPLAINING');
    expectError(await advance(ctx.fac, ctx.sid, 1, 'VOTING'), 400, 'backwards');
  });

  test('400 while the session is not RUNNING (CREATED)', { timeout: T }, async () => {
    const ctx = await classroom();
    expectError(await advance(ctx.fac, ctx.sid, 1, 'DISCUSSING'), 400);
  });

  test('403 for a plain member, the scribe and an outsider; 404 unknown session or round', { timeout: T }, async () => {
    const ctx = await classroom({ start: true });
    expectError(await advance(ctx.member, ctx.sid, 1, 'DISCUSSING'), 403, 'plain member');
    expectError(await advance(ctx.scribe, ctx.sid, 1, 'DISCUSSING'), 403, 'scribe');
    expectError(await advance(ctx.outsider, ctx.sid, 1, 'DISCUSSING'), 403, 'outsider');
    expectError(await advance(ctx.fac, randomUUID(), 1, 'DISCUSSING'), 404, 'unknown session');
    expectError(await advance(ctx.fac, ctx.sid, 3, 'DISCUSSING'), 404, 'round 3 of 2');
    expectError(await advance(ctx.fac, ctx.sid, 99, 'DISCUSSING'), 404, 'round 99');
    // round 0 is no round (they are numbered from 1): unknown (404) or malformed (400) both read fine
    const r0 = await advance(ctx.fac, ctx.sid, 0, 'DISCUSSING');
    assert.ok([400, 404].includes(r0.status), `round 0: ${r0.status} ${r0.text}`);
    expectError(r0, r0.status, 'round 0');
  });
});

suite('study-groups rounds: prompt changes', () => {
  for (const method of ['PATCH', 'PUT']) {
    for (const prefix of PREFIXES) {
      test(`${method} ${prefix}/group-sessions/:id/rounds/:n/prompt → 200 round; emits prompt.updated`, { timeout: T }, async () => {
        const ctx = await classroom();
        const c = await sgJoined(ctx.member, ctx.sid);
        const prompt = `Rewritten ${method} ${randomUUID().slice(0, 6)}`;
        const r = expectStatus(
          await api(method, `${prefix}/group-sessions/${ctx.sid}/rounds/2/prompt`, { as: ctx.fac, body: { prompt } }),
          200,
        );
        assertKeys(r, ROUND_KEYS, 'round');
        assert.equal(r.roundIndex, 2);
        assert.equal(r.prompt, prompt);
        assert.equal(r.status, 'VOTING');
        const ev = await c.take('prompt.updated');
        assertFields(
          ev,
          {
            sessionId: ctx.sid,
            roundId: roundOf(ctx.session, 2).id,
            roundIndex: 2,
            prompt,
            updatedBy: ctx.fac.id,
            timestamp: undefined,
          },
        );
        assert.equal(roundOf(await getSession(ctx.member, ctx.sid), 2).prompt, prompt);
        assert.equal(roundOf(await getSession(ctx.member, ctx.sid), 1).prompt, 'Question 1');
      });
    }
  }

  test('prompt: 400 empty or too long; 403 plain member / outsider; 404 unknown session or round; managers may', { timeout: T }, async () => {
    const ctx = await classroom({ start: true });
    const path = (n = 1, sid = ctx.sid) => `${V1}/group-sessions/${sid}/rounds/${n}/prompt`;
    expectError(await api('PATCH', path(), { as: ctx.fac, body: { prompt: '' } }), 400, 'empty');
    expectError(await api('PATCH', path(), { as: ctx.fac, body: {} }), 400, 'missing');
    expectError(await api('PATCH', path(), { as: ctx.fac, body: { prompt: 'p'.repeat(LIMITS.maxPromptLength + 1) } }), 400, 'too long');
    expectError(await api('PATCH', path(), { as: ctx.member, body: { prompt: 'x' } }), 403, 'plain member');
    expectError(await api('PATCH', path(), { as: ctx.scribe, body: { prompt: 'x' } }), 403, 'scribe');
    expectError(await api('PATCH', path(), { as: ctx.outsider, body: { prompt: 'x' } }), 403, 'outsider');
    expectError(await api('PATCH', path(1, randomUUID()), { as: ctx.fac, body: { prompt: 'x' } }), 404, 'unknown session');
    expectError(await api('PATCH', path(7), { as: ctx.fac, body: { prompt: 'x' } }), 404, 'unknown round');
    const r = expectStatus(await api('PUT', path(), { as: ctx.owner, body: { prompt: 'p'.repeat(LIMITS.maxPromptLength) } }), 200, 'OWNER');
    assert.equal(r.prompt.length, LIMITS.maxPromptLength);
  });
});

suite('study-groups rounds: session events', () => {
  test('events are accepted in snake_case and camelCase; GET events lists them oldest first, filterable by round', { timeout: T }, async () => {
    const ctx = await classroom({ start: true, attend: ['fac', 'member'] });
    const e1 = await submit(ctx.member, ctx.sid, 1, 'PI_VOTE_SUBMIT', { choice: 'A' });
    const e2 = expectStatus(
      await api('POST', `${V1}/group-sessions/${ctx.sid}/events`, {
        as: ctx.fac,
        body: { roundIndex: 1, eventType: 'PI_VOTE_SUBMIT', payload: { choice: 'B' } },
      }),
      201,
    );
    assert.equal(e2.eventType, 'PI_VOTE_SUBMIT');
    assert.equal(e2.roundIndex, 1);
    const e3 = await submit(ctx.member, ctx.sid, 2, 'HINT_REQUEST', 'plain string payload');
    assert.equal(e3.payload, 'plain string payload');
    const e4 = await submit(ctx.member, ctx.sid, 1, 'NOTE_1');
    for (const prefix of PREFIXES) {
      for (const u of [ctx.scribe, ctx.owner]) {
        const all = expectStatus(await api('GET', `${prefix}/group-sessions/${ctx.sid}/events`, { as: u }), 200);
        assert.ok(Array.isArray(all), JSON.stringify(all));
        assert.deepEqual(
          all.map((e) => e.id),
          [e1.id, e2.id, e3.id, e4.id],
        );
        for (const e of all) assertKeys(e, EVENT_KEYS, 'listed event');
        assert.deepEqual(all[0].payload, { choice: 'A' }, 'the log has the vote content');
        assertSameRecord(all[0], e1, ['createdAt'], 'listed event vs POST answer');
      }
      const r1 = expectStatus(await api('GET', `${prefix}/group-sessions/${ctx.sid}/events?round_index=1`, { as: ctx.member }), 200);
      assert.deepEqual(
        r1.map((e) => e.id),
        [e1.id, e2.id, e4.id],
      );
      const r2 = expectStatus(await api('GET', `${prefix}/group-sessions/${ctx.sid}/events?round_index=2`, { as: ctx.member }), 200);
      assert.deepEqual(
        r2.map((e) => e.id),
        [e3.id],
      );
    }
    expectError(await api('GET', `${V1}/group-sessions/${ctx.sid}/events`, { as: ctx.outsider }), 403);
    expectError(await api('GET', `${V1}/group-sessions/${randomUUID()}/events`, { as: ctx.owner }), 404);
  });

  test('any other event type → 201 and session.updated {reason: "EVENT", roundId, roundIndex, userId, eventType, eventId}', { timeout: T }, async () => {
    const ctx = await classroom({ start: true, attend: ['member'] });
    const c = await sgJoined(ctx.fac, ctx.sid);
    const ev = await submit(ctx.member, ctx.sid, 2, 'CONFIDENCE_CHECK_2', { level: 4 });
    const upd = await c.take('session.updated', (d) => d.reason === 'EVENT');
    assertFields(
      upd,
      {
        sessionId: ctx.sid,
        reason: 'EVENT',
        roundId: roundOf(ctx.session, 2).id,
        roundIndex: 2,
        userId: ctx.member.id,
        eventType: 'CONFIDENCE_CHECK_2',
        eventId: ev.id,
        timestamp: undefined,
      },
    );
  });

  test('GROUP_EXPLANATION_SUBMIT only from the scribe (403 for the facilitator and others)', { timeout: T }, async () => {
    const ctx = await classroom({ start: true, attend: ['fac', 'scribe', 'member'] });
    for (const u of [ctx.fac, ctx.scribe, ctx.member]) await submit(u, ctx.sid, 1, 'PI_VOTE_SUBMIT', { c: 1 });
    expectStatus(await advance(ctx.fac, ctx.sid, 1, 'DISCUSSING'), 200);
    expectStatus(await advance(ctx.fac, ctx.sid, 1, 'REVOTING'), 200);
    for (const u of [ctx.fac, ctx.scribe, ctx.member]) await submit(u, ctx.sid, 1, 'PI_REVOTE_SUBMIT', { c: 2 });
    expectStatus(await advance(ctx.fac, ctx.sid, 1, 'EXPLAINING'), 200);
    const watcher = await sgJoined(ctx.owner, ctx.sid);
    const mark = watcher.mark();
    expectError(await postEvent(ctx.member, ctx.sid, 1, 'GROUP_EXPLANATION_SUBMIT', { text: 'x' }), 403, 'member');
    expectError(await postEvent(ctx.fac, ctx.sid, 1, 'GROUP_EXPLANATION_SUBMIT', { text: 'x' }), 403, 'facilitator');
    await submit(ctx.scribe, ctx.sid, 1, 'GROUP_EXPLANATION_SUBMIT', { text: 'ours' });
    const shared = await watcher.take('sharedCard.created');
    assert.equal(shared.userId, ctx.scribe.id);
    assert.equal(watcher.since(mark).filter((m) => m.event === 'sharedCard.created').length, 1, 'refused ones were not announced');
  });

  // The contract does not say what `cardId` names, and no REST call returns cards: the only
  // record of the explanation a client can fetch is its event (POST answer, GET .../events).
  // A frontend developer would expect `cardId` to find it there.
  test('sharedCard.created cardId is the id of the GROUP_EXPLANATION_SUBMIT event (the card in the event log)', { timeout: T }, async () => {
    const ctx = await classroom({ start: true });
    for (const to of ['DISCUSSING', 'REVOTING', 'EXPLAINING']) expectStatus(await advance(ctx.fac, ctx.sid, 1, to), 200);
    await attendSession(ctx.scribe, ctx.sid);
    const watcher = await sgJoined(ctx.owner, ctx.sid);
    const card = await submit(ctx.scribe, ctx.sid, 1, 'GROUP_EXPLANATION_SUBMIT', { text: 'ours' });
    const shared = await watcher.take('sharedCard.created');
    const log = expectStatus(await api('GET', `${V1}/group-sessions/${ctx.sid}/events?round_index=1`, { as: ctx.member }), 200);
    const ids = log.map((e) => e.id);
    assert.ok(ids.includes(card.id), 'the explanation is in the event log');
    assert.equal(shared.cardId, card.id, `cardId ${shared.cardId} names no record a client can fetch (event id ${card.id})`);
  });

  test('403 from a member who has not attended (NOT_JOINED) and from an outsider; nothing announced', { timeout: T }, async () => {
    const ctx = await classroom({ start: true, attend: ['fac'] });
    const watcher = await sgJoined(ctx.fac, ctx.sid);
    const mark = watcher.mark();
    expectError(await postEvent(ctx.member, ctx.sid, 1, 'PI_VOTE_SUBMIT', { choice: 'A' }), 403, 'NOT_JOINED member');
    expectError(await postEvent(ctx.owner, ctx.sid, 1, 'HINT', {}), 403, 'NOT_JOINED owner');
    expectError(await postEvent(ctx.outsider, ctx.sid, 1, 'PI_VOTE_SUBMIT', { choice: 'A' }), 403, 'outsider');
    const text = `marker ${randomUUID()}`;
    expectStatus(await postChat(ctx.fac, ctx.gid, ctx.sid, text), 201);
    await watcher.take('chat.message', (d) => d.message === text);
    watcher.none(mark, ['vote.submitted', 'session.updated'], 'refused events');
  });

  test('409 for an event in the wrong phase {statusCode, message, required: <phase>, current: <round status>}', { timeout: T }, async () => {
    const ctx = await classroom({ start: true, attend: ['fac', 'scribe', 'member'] });
    let b = expectError(await postEvent(ctx.member, ctx.sid, 1, 'PI_REVOTE_SUBMIT', { c: 1 }), 409, 're-vote while VOTING');
    assert.equal(b.required, 'REVOTING');
    assert.equal(b.current, 'VOTING');
    b = expectError(await postEvent(ctx.scribe, ctx.sid, 1, 'GROUP_EXPLANATION_SUBMIT', { c: 1 }), 409, 'explanation while VOTING');
    assert.equal(b.required, 'EXPLAINING');
    assert.equal(b.current, 'VOTING');
    for (const u of [ctx.fac, ctx.scribe, ctx.member]) await submit(u, ctx.sid, 1, 'PI_VOTE_SUBMIT', { c: 1 });
    expectStatus(await advance(ctx.fac, ctx.sid, 1, 'DISCUSSING'), 200);
    b = expectError(await postEvent(ctx.member, ctx.sid, 1, 'PI_VOTE_SUBMIT', { c: 1 }), 409, 'vote while DISCUSSING');
    assert.equal(b.required, 'VOTING');
    assert.equal(b.current, 'DISCUSSING');
    // other types at any time
    await submit(ctx.member, ctx.sid, 1, 'DISCUSSION_NOTE', { text: 'hm' });
    // round 2 is still VOTING
    await submit(ctx.member, ctx.sid, 2, 'PI_VOTE_SUBMIT', { c: 2 });
  });

  test('400 for bad fields: event type shape, missing round or type, payload over 16 KiB; 404 unknown round or session', { timeout: T }, async () => {
    const ctx = await classroom({ start: true, attend: ['member'] });
    const post = (body, sid = ctx.sid) => api('POST', `${V1}/group-sessions/${sid}/events`, { as: ctx.member, body });
    expectError(await post({ round_index: 1, event_type: 'lower_case' }), 400, 'lowercase type');
    expectError(await post({ round_index: 1, event_type: 'HAS SPACE' }), 400, 'space in type');
    expectError(await post({ round_index: 1, event_type: 'DASH-ED' }), 400, 'dash in type');
    expectError(await post({ round_index: 1, event_type: '' }), 400, 'empty type');
    expectError(await post({ round_index: 1, event_type: 'A'.repeat(65) }), 400, '65 characters');
    expectError(await post({ round_index: 1 }), 400, 'no type');
    expectError(await post({ event_type: 'PI_VOTE_SUBMIT' }), 400, 'no round');
    expectError(await post({ round_index: 'one', event_type: 'PI_VOTE_SUBMIT' }), 400, 'round not a number');
    expectError(
      await post({ round_index: 1, event_type: 'BIG', payload: { text: 'x'.repeat(LIMITS.maxEventPayloadBytes) } }),
      400,
      'payload over the limit',
    );
    const ok64 = await submit(ctx.member, ctx.sid, 1, 'A'.repeat(64), { n: 1 });
    assert.equal(ok64.eventType, 'A'.repeat(64));
    const near = await submit(ctx.member, ctx.sid, 1, 'BIG_OK', { text: 'x'.repeat(LIMITS.maxEventPayloadBytes - 100) });
    assert.equal(near.payload.text.length, LIMITS.maxEventPayloadBytes - 100);
    expectError(await post({ round_index: 9, event_type: 'PI_VOTE_SUBMIT' }), 404, 'unknown round');
    expectError(await post({ round_index: 1, event_type: 'PI_VOTE_SUBMIT' }, randomUUID()), 404, 'unknown session');
  });

  test('400 while the session is CREATED (even for a member who attended)', { timeout: T }, async () => {
    const ctx = await classroom({ attend: ['member'] });
    expectError(await postEvent(ctx.member, ctx.sid, 1, 'PI_VOTE_SUBMIT', { choice: 'A' }), 400);
    expectError(await postEvent(ctx.member, ctx.sid, 1, 'HINT', {}), 400);
  });
});
