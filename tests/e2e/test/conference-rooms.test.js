// Conference app: waiting room, recording, breakout rooms.
// Contract: docs/conference.md "Host and co-host actions" (table and "Waiting room").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  T,
  assertError,
  assertObject,
  assertNone,
  assertQuiet,
  arrive,
  createRoom,
  ids,
  join,
  joinAll,
  peerId,
  roomId,
  roomState,
  settle,
  suite,
} from './conference-helpers.js';

/** Host + plain participant, waiting room enabled. */
async function waitingRoom(tag) {
  const room = roomId(tag);
  const [h, p] = await joinAll(room, ['Host', 'Pia']);
  h.send('enable-waiting-room', {});
  await h.data('waiting-room-enabled');
  await p.data('waiting-room-enabled');
  return { room, h, p };
}

suite('conference: waiting room', () => {
  test('enable-waiting-room (host) → waiting-room-enabled {} to everyone; state waitingRoomEnabled', { timeout: T }, async () => {
    const room = roomId('wr');
    const [h, p] = await joinAll(room, ['Host', 'Pia']);
    h.send('enable-waiting-room', {});
    for (const c of [h, p]) assertObject(await c.data('waiting-room-enabled'), 'waiting-room-enabled');
    assert.equal((await roomState(room)).waitingRoomEnabled, true);
  });

  test('waiting {position}: joiners wait in order; host gets participant-waiting {peerId, username}; others nothing', { timeout: T }, async () => {
    const { room, h, p } = await waitingRoom('wr');
    const mp = p.mark();
    const w1 = await arrive(room, 'Wendy');
    assert.deepEqual(await w1.data('waiting'), { position: 1 });
    assert.deepEqual(await h.data('participant-waiting'), { peerId: w1.id, username: 'Wendy' });
    const w2 = await arrive(room, 'Walt');
    assert.deepEqual(await w2.data('waiting'), { position: 2 });
    assert.deepEqual(await h.data('participant-waiting', (d) => d.peerId === w2.id), { peerId: w2.id, username: 'Walt' });
    await settle(w1, w2, h, p);
    assert.equal(w1.all('peers').length + w2.all('peers').length, 0, 'waiting peers get no peers');
    assertNone(p, mp, ['participant-waiting', 'peer-joined'], 'a plain participant hears nothing of the waiting room');
    assertNone(h, 0, 'peer-joined', undefined, (d) => d.peerId === w1.id || d.peerId === w2.id);
    const st = await roomState(room);
    assert.deepEqual(ids(st.waiting), ids([w1.id, w2.id]), 'REST state lists the waiting peers');
    assert.equal(st.participants.length, 2);
  });

  test('get-waiting-room (host) → waiting-room {waiting: [{peerId, username}]} to the asker only', { timeout: T }, async () => {
    const { room, h, p } = await waitingRoom('wr');
    const w1 = await arrive(room, 'Wendy');
    await w1.data('waiting');
    const w2 = await arrive(room, 'Walt');
    await w2.data('waiting');
    const mp = p.mark();
    h.send('get-waiting-room', {});
    const d = await h.data('waiting-room');
    assert.deepEqual(d, {
      waiting: [
        { peerId: w1.id, username: 'Wendy' },
        { peerId: w2.id, username: 'Walt' },
      ],
    });
    await settle(p);
    assertNone(p, mp, 'waiting-room');
  });

  test('admit-participant {peerId} (host) → the waiting peer gets peers; everyone else peer-joined', { timeout: T }, async () => {
    const { room, h, p } = await waitingRoom('wr');
    const w = await arrive(room, 'Wendy');
    await w.data('waiting');
    h.send('admit-participant', { peerId: w.id });
    const peers = await w.data('peers');
    assert.equal(peers.yourId, w.id);
    assert.equal(peers.isHost, false);
    assert.equal(peers.hostId, h.id);
    assert.equal(peers.waitingRoomEnabled, true);
    assert.deepEqual(ids(peers.peers), ids([h.id, p.id]));
    for (const c of [h, p]) assert.deepEqual(await c.data('peer-joined', (d) => d.peerId === w.id), { peerId: w.id, username: 'Wendy' });
    // now a full participant
    w.send('chat-message', { message: 'admitted' });
    await p.data('chat-message', (d) => d.message === 'admitted');
    h.send('get-waiting-room', {});
    assert.deepEqual(await h.data('waiting-room'), { waiting: [] });
  });

  test('deny-participant {peerId} (host) → the waiting peer gets denied {} and close 4003', { timeout: T }, async () => {
    const { room, h, p } = await waitingRoom('wr');
    const w = await arrive(room, 'Wendy');
    await w.data('waiting');
    const mp = p.mark();
    h.send('deny-participant', { peerId: w.id });
    assertObject(await w.data('denied'), 'denied');
    await w.expectClose(4003);
    assert.equal(w.all('peers').length, 0);
    await settle(h, p);
    assertNone(p, mp, ['peer-joined', 'peer-left']);
    h.send('get-waiting-room', {});
    assert.deepEqual(await h.data('waiting-room'), { waiting: [] });
    assert.deepEqual((await roomState(room)).waiting, []);
  });

  test('disable-waiting-room (host) → waiting-room-disabled {} to everyone; everyone waiting is admitted', { timeout: T }, async () => {
    const { room, h, p } = await waitingRoom('wr');
    const w1 = await arrive(room, 'Wendy');
    await w1.data('waiting');
    const w2 = await arrive(room, 'Walt');
    await w2.data('waiting');
    h.send('disable-waiting-room', {});
    for (const c of [h, p]) assertObject(await c.data('waiting-room-disabled'), 'waiting-room-disabled');
    for (const w of [w1, w2]) assert.equal((await w.data('peers')).yourId, w.id);
    for (const c of [h, p]) {
      await c.data('peer-joined', (d) => d.peerId === w1.id);
      await c.data('peer-joined', (d) => d.peerId === w2.id);
    }
    const n = await join(room, { label: 'Direct' });
    assert.equal(n.peers.waitingRoomEnabled, false);
    assert.equal((await roomState(room)).waitingRoomEnabled, false);
  });

  test('a co-host gets participant-waiting and can admit', { timeout: T }, async () => {
    const room = roomId('wrco');
    const [h, co] = await joinAll(room, ['Host', 'Co']);
    h.send('promote-co-host', { targetPeerId: co.id });
    await co.data('promote-co-host');
    co.send('enable-waiting-room', {});
    await h.data('waiting-room-enabled');
    const w = await arrive(room, 'Wendy');
    await w.data('waiting');
    assert.equal((await co.data('participant-waiting')).peerId, w.id);
    co.send('admit-participant', { peerId: w.id });
    await w.data('peers');
    await h.data('peer-joined', (d) => d.peerId === w.id);
  });

  test('a designated host (REST hostPeerId) does not wait and is host', { timeout: T }, async () => {
    const room = roomId('wrhost');
    const boss = peerId();
    const res = await createRoom({ roomId: room, hostPeerId: boss, waitingRoom: true });
    assert.equal(res.status, 201, res.text);
    const h = await join(room, { peerId: boss, username: 'Boss' });
    assert.equal(h.peers.isHost, true);
    assert.equal(h.peers.waitingRoomEnabled, true);
    const w = await arrive(room, 'Wendy');
    assert.deepEqual(await w.data('waiting'), { position: 1 });
    assert.equal((await h.data('participant-waiting')).peerId, w.id);
  });
});

suite('conference: recording', () => {
  test('start-recording (host) → recording-started {by} to everyone; recording state true', { timeout: T }, async () => {
    const room = roomId('rec');
    const [h, p] = await joinAll(room, ['Host', 'Pia']);
    h.send('start-recording', {});
    for (const c of [h, p]) assert.deepEqual(await c.data('recording-started'), { by: h.id });
    const n = await join(room, { label: 'Newcomer' });
    assert.equal(n.peers.recording, true);
    assert.equal((await roomState(room)).recording, true);
  });

  test('stop-recording (host) → recording-stopped {by} to everyone; recording state false', { timeout: T }, async () => {
    const room = roomId('rec');
    const [h, p] = await joinAll(room, ['Host', 'Pia']);
    h.send('start-recording', {});
    await p.data('recording-started');
    h.send('stop-recording', {});
    for (const c of [h, p]) assert.deepEqual(await c.data('recording-stopped'), { by: h.id });
    const n = await join(room, { label: 'Newcomer' });
    assert.equal(n.peers.recording, false);
    assert.equal((await roomState(room)).recording, false);
  });
});

suite('conference: breakout rooms', () => {
  test('create-breakout-rooms (host) → breakout-rooms-created to everyone; breakout-room-assigned to each assigned peer', { timeout: T }, async () => {
    const room = roomId('bo');
    const [h, a, b, c] = await joinAll(room, ['Host', 'Ann', 'Bo', 'Cy']);
    h.send('create-breakout-rooms', {
      rooms: [
        { name: 'One', peerIds: [a.id] },
        { name: 'Two', peerIds: [b.id] },
      ],
    });
    const created = [];
    for (const x of [h, a, b, c]) created.push(await x.data('breakout-rooms-created'));
    const { rooms } = created[0];
    assert.equal(rooms.length, 2);
    const re = new RegExp(`^${room}-bo-\\d+$`);
    for (const r of rooms) assert.match(r.breakoutRoomId, re, 'breakout ids are <roomId>-bo-<n>');
    assert.notEqual(rooms[0].breakoutRoomId, rooms[1].breakoutRoomId);
    assert.deepEqual(rooms.map((r) => ({ name: r.name, peerIds: r.peerIds })), [
      { name: 'One', peerIds: [a.id] },
      { name: 'Two', peerIds: [b.id] },
    ]);
    for (const d of created) assert.deepEqual(d, created[0], 'everyone gets the same list');
    assert.deepEqual(await a.data('breakout-room-assigned'), { breakoutRoomId: rooms[0].breakoutRoomId, name: 'One' });
    assert.deepEqual(await b.data('breakout-room-assigned'), { breakoutRoomId: rooms[1].breakoutRoomId, name: 'Two' });
    await settle(h, c);
    assertNone(c, 0, 'breakout-room-assigned', 'unassigned peers get no assignment');
    assertNone(h, 0, 'breakout-room-assigned');
    // state for a newcomer
    const n = await join(room, { label: 'Newcomer' });
    assert.deepEqual(n.peers.breakoutRooms.map((r) => r.breakoutRoomId).sort(), rooms.map((r) => r.breakoutRoomId).sort());
  });

  test('close-breakout-rooms (host) → breakout-rooms-closed {mainRoomId} to the main room and to the breakout rooms\' members', { timeout: T }, async () => {
    const room = roomId('bo');
    const [h, a, c] = await joinAll(room, ['Host', 'Ann', 'Cy']);
    h.send('create-breakout-rooms', { rooms: [{ name: 'One', peerIds: [a.id] }] });
    const { breakoutRoomId } = await a.data('breakout-room-assigned');
    // Ann goes to her breakout room (a second connection, same peerId)
    const aBo = await join(breakoutRoomId, { peerId: a.id, username: 'Ann' });
    assert.equal(aBo.peers.yourId, a.id);
    h.send('close-breakout-rooms', {});
    for (const x of [h, a, c]) assert.deepEqual(await x.data('breakout-rooms-closed'), { mainRoomId: room });
    assert.deepEqual(await aBo.data('breakout-rooms-closed'), { mainRoomId: room });
    const n = await join(room, { label: 'Newcomer' });
    assert.deepEqual(n.peers.breakoutRooms, []);
  });

  test('UNAUTHORIZED: create-breakout-rooms from a participant (no rooms created)', { timeout: T }, async () => {
    const room = roomId('bo');
    const [h, p] = await joinAll(room, ['Host', 'Pia']);
    const mh = h.mark();
    p.send('create-breakout-rooms', { rooms: [{ name: 'X', peerIds: [p.id] }] });
    assertError(await p.error('UNAUTHORIZED'), 'UNAUTHORIZED');
    await settle(p, h);
    assertQuiet(h, mh);
    const n = await join(room, { label: 'Newcomer' });
    assert.deepEqual(n.peers.breakoutRooms, []);
  });
});
