// Conference app: host and co-host commands in both vocabularies, UNAUTHORIZED,
// ROOM_LOCKED, kick and the kick ban. Contract: docs/conference.md "Host and co-host actions".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  T,
  assertError,
  assertObject,
  assertNone,
  assertQuiet,
  arrive,
  ids,
  join,
  joinRefused,
  normalizeState,
  participant,
  roomState,
  settle,
  sorted,
  suite,
  trio as joinTrio,
} from './conference-helpers.js';

/** Host, Peer, Observer in a fresh room; the first joiner is the host. */
async function trio(tag) {
  const ctx = await joinTrio(tag);
  assert.equal(ctx.h.peers.isHost, true);
  return ctx;
}

/** Every client gets `event` (data satisfying pred); returns the data each got. */
async function allGet(clients, event, pred) {
  return Promise.all(clients.map(async (c) => (await c.data(event, pred)) ?? {}));
}

suite('conference: lock / unlock', () => {
  for (const cmd of ['room-locked', 'lock-room']) {
    test(`${cmd} (host) → room-locked {} to everyone; a newcomer gets ROOM_LOCKED + close 1008; peers inside stay`, { timeout: T }, async () => {
      const { room, h, p, o } = await trio('lock');
      h.send(cmd, {});
      for (const d of await allGet([h, p, o], 'room-locked')) assertObject(d, 'room-locked');
      const mark = h.mark();
      const { error } = await joinRefused(room, 'ROOM_LOCKED');
      assertError(error, 'ROOM_LOCKED');
      await settle(h, p, o);
      assertNone(h, mark, ['peer-joined', 'peer-left']);
      for (const c of [h, p, o]) assert.ok(c.isOpen, `${c.label} stays in a locked room`);
      assert.equal((await roomState(room)).locked, true);
      // the peers inside keep talking
      p.send('chat-message', { message: 'still here' });
      await o.data('chat-message', (d) => d.message === 'still here');
    });
  }

  for (const cmd of ['room-unlocked', 'unlock-room']) {
    test(`${cmd} (host) → room-unlocked {} to everyone; newcomers can join again`, { timeout: T }, async () => {
      const { room, h, p, o } = await trio('unlock');
      h.send('room-locked', {});
      await allGet([h, p, o], 'room-locked');
      await joinRefused(room, 'ROOM_LOCKED');
      h.send(cmd, {});
      for (const d of await allGet([h, p, o], 'room-unlocked')) assertObject(d, 'room-unlocked');
      const n = await join(room, { label: 'Newcomer' });
      assert.equal(n.peers.roomLocked, false);
      assert.equal((await roomState(room)).locked, false);
    });
  }
});

suite('conference: chat enable / disable', () => {
  for (const cmd of ['chat-disabled', 'disable-chat']) {
    test(`${cmd} (host) → chat-disabled {} to everyone; state chatEnabled false`, { timeout: T }, async () => {
      const { room, h, p, o } = await trio('chatoff');
      h.send(cmd, {});
      for (const d of await allGet([h, p, o], 'chat-disabled')) assertObject(d, 'chat-disabled');
      const n = await join(room, { label: 'Newcomer' });
      assert.equal(n.peers.chatEnabled, false);
      assert.equal((await roomState(room)).chatEnabled, false);
      p.send('chat-message', { message: 'muted chat' });
      await p.error('CHAT_DISABLED');
    });
  }

  for (const cmd of ['chat-enabled', 'enable-chat']) {
    test(`${cmd} (host) → chat-enabled {} to everyone; chat works again`, { timeout: T }, async () => {
      const { room, h, p, o } = await trio('chaton');
      h.send('chat-disabled', {});
      await allGet([h, p, o], 'chat-disabled');
      h.send(cmd, {});
      for (const d of await allGet([h, p, o], 'chat-enabled')) assertObject(d, 'chat-enabled');
      p.send('chat-message', { message: 'back' });
      await o.data('chat-message', (d) => d.message === 'back');
      const n = await join(room, { label: 'Newcomer' });
      assert.equal(n.peers.chatEnabled, true);
    });
  }
});

suite('conference: kick', () => {
  for (const [cmd, dataOf] of [
    ['kicked', (id) => ({ targetPeerId: id })],
    ['remove-participant', (id) => ({ peerId: id })],
    ['remove-participant', (id) => ({ targetPeerId: id })],
  ]) {
    const shape = Object.keys(dataOf('x'))[0];
    test(`${cmd} {${shape}} (host) → target gets kicked {} and close 4001; others get peer-left; same peerId refused UNAUTHORIZED`, { timeout: T }, async () => {
      const { room, h, p, o } = await trio('kick');
      h.send(cmd, dataOf(p.id));
      assertObject(await p.data('kicked'), 'kicked');
      await p.expectClose(4001);
      for (const c of [h, o]) assert.deepEqual(await c.data('peer-left', (d) => d.peerId === p.id), { peerId: p.id });
      const st = await roomState(room);
      assert.equal(participant(st, p.id), undefined, 'the kicked peer is gone from the state');
      // banned: same peerId again
      const mark = h.mark();
      const { error } = await joinRefused(room, 'UNAUTHORIZED', { peerId: p.id, username: 'Pia again' });
      assertError(error, 'UNAUTHORIZED');
      await settle(h);
      assertNone(h, mark, 'peer-joined', 'a banned peer is never announced');
    });
  }

  test('kick ban is per peerId without auth: another peerId may still join', { timeout: T }, async () => {
    const { room, h, p } = await trio('kickban');
    h.send('kicked', { targetPeerId: p.id });
    await p.expectClose(4001);
    const n = await join(room, { label: 'Other' });
    assert.equal(n.peers.isHost, false);
  });
});

suite('conference: mute', () => {
  test('mute-participant {targetPeerId} (host) → mute-participant {targetPeerId, by} to everyone; mutedPeers', { timeout: T }, async () => {
    const { room, h, p, o } = await trio('mute');
    h.send('mute-participant', { targetPeerId: p.id });
    for (const d of await allGet([h, p, o], 'mute-participant')) assert.deepEqual(d, { targetPeerId: p.id, by: h.id });
    const n = await join(room, { label: 'Newcomer' });
    assert.deepEqual(ids(n.peers.mutedPeers), [p.id]);
    assert.equal(participant(await roomState(room), p.id).muted, true);
  });

  test('unmute-participant {targetPeerId} (host) → unmute-participant {targetPeerId, by}; mutedPeers cleared', { timeout: T }, async () => {
    const { room, h, p, o } = await trio('unmute');
    h.send('mute-participant', { targetPeerId: p.id });
    await allGet([h, p, o], 'mute-participant');
    h.send('unmute-participant', { targetPeerId: p.id });
    for (const d of await allGet([h, p, o], 'unmute-participant')) assert.deepEqual(d, { targetPeerId: p.id, by: h.id });
    const n = await join(room, { label: 'Newcomer' });
    assert.deepEqual(n.peers.mutedPeers, []);
    assert.equal(participant(await roomState(room), p.id).muted, false);
  });

  test('mute-all (host) → mute-all {by} to everyone; everyone but the host muted', { timeout: T }, async () => {
    const { room, h, p, o } = await trio('muteall');
    h.send('mute-all', {});
    for (const d of await allGet([h, p, o], 'mute-all')) assert.deepEqual(d, { by: h.id });
    const st = await roomState(room);
    assert.equal(participant(st, h.id).muted, false, 'the host is not muted');
    assert.equal(participant(st, p.id).muted, true);
    assert.equal(participant(st, o.id).muted, true);
    // peers.mutedPeers of a newcomer (who joined after mute-all) lists the muted ones
    const n = await join(room, { label: 'Newcomer' });
    assert.ok(!ids(n.peers.mutedPeers).includes(h.id));
    assert.ok(ids(n.peers.mutedPeers).includes(p.id) && ids(n.peers.mutedPeers).includes(o.id));
  });

  test('unmute-all (host) → unmute-all {by} to everyone; nobody muted', { timeout: T }, async () => {
    const { room, h, p, o } = await trio('unmuteall');
    h.send('mute-all', {});
    await allGet([h, p, o], 'mute-all');
    h.send('unmute-all', {});
    for (const d of await allGet([h, p, o], 'unmute-all')) assert.deepEqual(d, { by: h.id });
    const st = await roomState(room);
    for (const x of st.participants) assert.equal(x.muted, false, `${x.peerId} unmuted`);
  });
});

suite('conference: co-hosts', () => {
  // The contract gives `targetPeerId` for promote/demote; the older client's
  // aliases are tried with `targetPeerId` and with `peerId` (as remove-participant).
  for (const [cmd, dataOf] of [
    ['promote-co-host', (id) => ({ targetPeerId: id })],
    ['add-cohost', (id) => ({ targetPeerId: id })],
    ['add-cohost', (id) => ({ peerId: id })],
  ]) {
    const shape = Object.keys(dataOf('x'))[0];
    test(`${cmd} {${shape}} (host) → promote-co-host {targetPeerId} to everyone; coHosts; isCoHost`, { timeout: T }, async () => {
      const { room, h, p, o } = await trio('promote');
      h.send(cmd, dataOf(p.id));
      for (const d of await allGet([h, p, o], 'promote-co-host')) assert.deepEqual(d, { targetPeerId: p.id });
      const n = await join(room, { label: 'Newcomer' });
      assert.deepEqual(ids(n.peers.coHosts), [p.id]);
      assert.equal(participant(await roomState(room), p.id).isCoHost, true);
    });
  }

  for (const [cmd, dataOf] of [
    ['demote-co-host', (id) => ({ targetPeerId: id })],
    ['remove-cohost', (id) => ({ targetPeerId: id })],
    ['remove-cohost', (id) => ({ peerId: id })],
  ]) {
    const shape = Object.keys(dataOf('x'))[0];
    test(`${cmd} {${shape}} (host) → demote-co-host {targetPeerId} to everyone; coHosts cleared`, { timeout: T }, async () => {
      const { room, h, p, o } = await trio('demote');
      h.send('promote-co-host', { targetPeerId: p.id });
      await allGet([h, p, o], 'promote-co-host');
      h.send(cmd, dataOf(p.id));
      for (const d of await allGet([h, p, o], 'demote-co-host')) assert.deepEqual(d, { targetPeerId: p.id });
      const n = await join(room, { label: 'Newcomer' });
      assert.deepEqual(n.peers.coHosts, []);
      assert.equal(participant(await roomState(room), p.id).isCoHost, false);
    });
  }

  test('a co-host can lock/unlock and mute, but cannot promote or demote co-hosts (UNAUTHORIZED)', { timeout: T }, async () => {
    const { room, h, p: co, o } = await trio('cohost');
    h.send('promote-co-host', { targetPeerId: co.id });
    await allGet([h, co, o], 'promote-co-host');

    co.send('lock-room', {});
    await allGet([h, co, o], 'room-locked');
    co.send('room-unlocked', {});
    await allGet([h, co, o], 'room-unlocked');
    co.send('mute-participant', { targetPeerId: o.id });
    for (const d of await allGet([h, co, o], 'mute-participant')) assert.deepEqual(d, { targetPeerId: o.id, by: co.id });

    const before = normalizeState(await roomState(room));
    const mh = h.mark();
    const mo = o.mark();
    for (const [cmd, data] of [
      ['promote-co-host', { targetPeerId: o.id }],
      ['add-cohost', { targetPeerId: o.id }],
      ['demote-co-host', { targetPeerId: co.id }],
      ['remove-cohost', { targetPeerId: co.id }],
    ]) {
      const m = co.mark();
      co.send(cmd, data);
      await co.ping();
      const errs = co.since(m).filter((x) => x.event === 'error').map((x) => x.data.code);
      assert.deepEqual(errs, ['UNAUTHORIZED'], `co-host ${cmd}: UNAUTHORIZED; got\n    ${co.history(m)}`);
    }
    await settle(h, o);
    assertNone(h, mh, ['promote-co-host', 'demote-co-host']);
    assertNone(o, mo, ['promote-co-host', 'demote-co-host']);
    assert.deepEqual(normalizeState(await roomState(room)), before, 'nothing changed');
  });

  test('a co-host can kick a participant', { timeout: T }, async () => {
    const { h, p: co, o } = await trio('cokick');
    h.send('promote-co-host', { targetPeerId: co.id });
    await allGet([h, co, o], 'promote-co-host');
    co.send('kicked', { targetPeerId: o.id });
    await o.data('kicked');
    await o.expectClose(4001);
    await allGet([h, co], 'peer-left', (d) => d.peerId === o.id);
  });
});

suite('conference: clear-all-hands', () => {
  test('clear-all-hands (host) → lower-hand {peerId} for each raised hand, to everyone', { timeout: T }, async () => {
    const { room, h, p, o } = await trio('hands');
    p.send('raise-hand', {});
    o.send('raise-hand', {});
    await h.data('raise-hand', (d) => d.peerId === p.id);
    await h.data('raise-hand', (d) => d.peerId === o.id);
    h.send('clear-all-hands', {});
    for (const c of [h, p, o]) {
      await c.data('lower-hand', (d) => d.peerId === p.id);
      await c.data('lower-hand', (d) => d.peerId === o.id);
    }
    await settle(h);
    assert.equal(h.all('lower-hand').length, 2, `one lower-hand per raised hand; got\n    ${h.history()}`);
    const n = await join(room, { label: 'Newcomer' });
    assert.deepEqual(n.peers.raisedHands, []);
  });
});

// ---------------------------------------------------------------------------
// UNAUTHORIZED: every host command from a plain participant is refused and
// changes nothing (no broadcast, same REST state).
// ---------------------------------------------------------------------------

/** [command, data(ctx), setup(ctx) run by the host first so the refusal is meaningful] */
const HOST_COMMANDS = [
  ['room-locked', () => ({})],
  ['lock-room', () => ({})],
  ['room-unlocked', () => ({}), lockFirst],
  ['unlock-room', () => ({}), lockFirst],
  ['chat-disabled', () => ({})],
  ['disable-chat', () => ({})],
  ['chat-enabled', () => ({}), chatOffFirst],
  ['enable-chat', () => ({}), chatOffFirst],
  ['kicked', ({ o }) => ({ targetPeerId: o.id })],
  ['remove-participant', ({ o }) => ({ peerId: o.id })],
  ['mute-participant', ({ o }) => ({ targetPeerId: o.id })],
  ['unmute-participant', ({ o }) => ({ targetPeerId: o.id }), muteFirst],
  ['mute-all', () => ({})],
  ['unmute-all', () => ({}), muteAllFirst],
  ['promote-co-host', ({ o }) => ({ targetPeerId: o.id })],
  ['add-cohost', ({ o }) => ({ targetPeerId: o.id })],
  ['demote-co-host', ({ o }) => ({ targetPeerId: o.id }), promoteFirst],
  ['remove-cohost', ({ o }) => ({ targetPeerId: o.id }), promoteFirst],
  ['clear-all-hands', () => ({}), handFirst],
  ['enable-waiting-room', () => ({})],
  ['disable-waiting-room', () => ({}), waitingFirst],
  ['admit-participant', ({ w }) => ({ peerId: w.id }), waitingFirst],
  ['deny-participant', ({ w }) => ({ peerId: w.id }), waitingFirst],
  ['get-waiting-room', () => ({}), waitingFirst],
  ['start-recording', () => ({})],
  ['stop-recording', () => ({}), recordingFirst],
  ['create-breakout-rooms', ({ o, p }) => ({ rooms: [{ name: 'Sneaky', peerIds: [o.id, p.id] }] })],
  ['close-breakout-rooms', () => ({}), breakoutFirst],
  ['approve-screen-share', ({ o }) => ({ peerId: o.id }), requestShareFirst],
  ['deny-screen-share', ({ o }) => ({ peerId: o.id }), requestShareFirst],
  ['revoke-screen-share', ({ o }) => ({ peerId: o.id }), shareFirst],
];

async function lockFirst({ h, p, o }) {
  h.send('room-locked', {});
  await allGet([h, p, o], 'room-locked');
}
async function chatOffFirst({ h, p, o }) {
  h.send('chat-disabled', {});
  await allGet([h, p, o], 'chat-disabled');
}
async function muteFirst({ h, p, o }) {
  h.send('mute-participant', { targetPeerId: o.id });
  await allGet([h, p, o], 'mute-participant');
}
async function muteAllFirst({ h, p, o }) {
  h.send('mute-all', {});
  await allGet([h, p, o], 'mute-all');
}
async function promoteFirst({ h, p, o }) {
  h.send('promote-co-host', { targetPeerId: o.id });
  await allGet([h, p, o], 'promote-co-host');
}
async function handFirst({ h, p, o }) {
  o.send('raise-hand', {});
  await allGet([h, p, o], 'raise-hand');
}
async function waitingFirst(ctx) {
  const { room, h, p, o } = ctx;
  h.send('enable-waiting-room', {});
  await allGet([h, p, o], 'waiting-room-enabled');
  const w = await arrive(room, 'Waiter');
  await w.data('waiting');
  await h.data('participant-waiting', (d) => d.peerId === w.id);
  ctx.w = w;
}
async function recordingFirst({ h, p, o }) {
  h.send('start-recording', {});
  await allGet([h, p, o], 'recording-started');
}
async function breakoutFirst({ h, p, o }) {
  h.send('create-breakout-rooms', { rooms: [{ name: 'One', peerIds: [o.id] }] });
  await allGet([h, p, o], 'breakout-rooms-created');
}
async function requestShareFirst({ h, o }) {
  o.send('request-screen-share', {});
  await h.data('request-screen-share', (d) => d.peerId === o.id);
}
async function shareFirst({ h, p, o }) {
  o.send('screen-share-start', {});
  await allGet([h, p], 'screen-share-start');
}

suite('conference: UNAUTHORIZED (host commands from a participant change nothing)', () => {
  for (const [cmd, dataOf, setup] of HOST_COMMANDS) {
    test(`UNAUTHORIZED: ${cmd} from a participant`, { timeout: T }, async () => {
      const ctx = await trio('unauth');
      const { room, h, p, o } = ctx;
      if (setup) await setup(ctx);
      const watchers = [h, o, ...(ctx.w ? [ctx.w] : [])];
      await settle(h, p, ...watchers.slice(1));
      const before = normalizeState(await roomState(room));
      const marks = watchers.map((c) => c.mark());
      const mp = p.mark();
      p.send(cmd, dataOf(ctx));
      const err = await p.error('UNAUTHORIZED');
      assertError(err, 'UNAUTHORIZED');
      await settle(p, ...watchers);
      watchers.forEach((c, i) => assertQuiet(c, marks[i], `after a participant's ${cmd}`));
      const pGot = p.since(mp).filter((m) => m.event !== 'pong');
      assert.equal(pGot.length, 1, `the participant gets only the error; got\n    ${p.history(mp)}`);
      for (const c of [h, p, o]) assert.ok(c.isOpen, `${c.label} still connected`);
      if (ctx.w) assert.ok(ctx.w.isOpen && ctx.w.all('peers').length === 0, 'the waiting peer still waits');
      assert.deepEqual(normalizeState(await roomState(room)), before, 'REST state unchanged');
      if (cmd === 'room-locked' || cmd === 'lock-room') {
        const n = await join(room, { label: 'Newcomer' });
        assert.equal(n.peers.roomLocked, false, 'a newcomer can still join');
      }
      if (cmd === 'chat-disabled' || cmd === 'disable-chat') {
        p.send('chat-message', { message: 'chat still on' });
        await o.data('chat-message', (d) => d.message === 'chat still on');
      }
      if (cmd === 'promote-co-host' || cmd === 'add-cohost') {
        const n = await join(room, { label: 'Newcomer' });
        assert.deepEqual(n.peers.coHosts, []);
      }
      if (cmd === 'start-recording') {
        const n = await join(room, { label: 'Newcomer' });
        assert.equal(n.peers.recording, false);
      }
    });
  }

  test('UNAUTHORIZED: a participant cannot lower another participant\'s hand', { timeout: T }, async () => {
    const { room, h, p, o } = await trio('hand');
    o.send('raise-hand', {});
    await allGet([h, p, o], 'raise-hand');
    const mh = h.mark();
    p.send('lower-hand', { peerId: o.id });
    await settle(p, h, o);
    assertNone(h, mh, 'lower-hand', 'o\'s hand stays up', (d) => d.peerId === o.id);
    assert.equal(participant(await roomState(room), o.id).handRaised, true);
    assert.deepEqual(sorted(ids((await join(room, { label: 'N' })).peers.raisedHands)), [o.id]);
  });
});
