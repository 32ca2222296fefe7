// Conference app: connecting, `join`, `peers`, room ids, joining errors, isolation.
// Contract: docs/conference.md "Connecting and joining".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CONF,
  T,
  assertError,
  assertNone,
  connect,
  ids,
  join,
  joinAll,
  joinRefused,
  peerId,
  roomId,
  sendJoin,
  settle,
  sorted,
  suite,
} from './conference-helpers.js';

const PEERS_KEYS = [
  'yourId',
  'peers',
  'isHost',
  'hostId',
  'roomLocked',
  'coHosts',
  'raisedHands',
  'chatEnabled',
  'screenSharers',
  'mutedPeers',
  'recording',
  'waitingRoomEnabled',
  'breakoutRooms',
];

suite('conference: join and peers', () => {
  test('join → peers: full documented shape for the first joiner (isHost true)', { timeout: T }, async () => {
    const room = roomId('join');
    const pid = peerId();
    const a = await join(room, { peerId: pid, username: 'Ann' });
    const p = a.peers;
    for (const k of PEERS_KEYS) assert.ok(k in p, `peers has "${k}": ${JSON.stringify(p)}`);
    assert.equal(p.yourId, pid);
    assert.deepEqual(p.peers, []);
    assert.equal(p.isHost, true);
    assert.equal(p.hostId, pid);
    assert.equal(p.roomLocked, false);
    assert.deepEqual(p.coHosts, []);
    assert.deepEqual(p.raisedHands, []);
    assert.equal(p.chatEnabled, true);
    assert.deepEqual(p.screenSharers, []);
    assert.deepEqual(p.mutedPeers, []);
    assert.equal(p.recording, false);
    assert.equal(p.waitingRoomEnabled, false);
    assert.deepEqual(p.breakoutRooms, []);
  });

  test('join → peers lists the others as [{peerId, username}]; second joiner is not host', { timeout: T }, async () => {
    const room = roomId('join');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    const c = await join(room, { label: 'Cy' });
    assert.equal(c.peers.isHost, false);
    assert.equal(c.peers.hostId, a.id);
    assert.equal(b.peers.isHost, false);
    assert.equal(b.peers.hostId, a.id);
    assert.deepEqual(b.peers.peers, [{ peerId: a.id, username: 'Ann' }]);
    const others = [...c.peers.peers].sort((x, y) => x.peerId.localeCompare(y.peerId));
    const expected = [
      { peerId: a.id, username: 'Ann' },
      { peerId: b.id, username: 'Bo' },
    ].sort((x, y) => x.peerId.localeCompare(y.peerId));
    assert.deepEqual(others, expected, 'peers lists everyone else, as {peerId, username} objects');
    assert.ok(!ids(c.peers.peers).includes(c.id), 'peers does not list the joiner itself');
  });

  test('peer-joined {peerId, username} goes to everyone else, not to the joiner', { timeout: T }, async () => {
    const room = roomId('join');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    const pj = await a.data('peer-joined', (d) => d.peerId === b.id);
    assert.deepEqual(pj, { peerId: b.id, username: 'Bo' });
    const c = await join(room, { label: 'Cy' });
    for (const x of [a, b]) {
      assert.deepEqual(await x.data('peer-joined', (d) => d.peerId === c.id), { peerId: c.id, username: 'Cy' });
    }
    await settle(c);
    assertNone(c, 0, 'peer-joined', 'the joiner is not told about itself or about earlier peers');
  });

  test('join → chat-history {messages: []} follows peers for a fresh room', { timeout: T }, async () => {
    const room = roomId('join');
    const a = await join(room, { label: 'Ann' });
    const h = await a.data('chat-history');
    assert.deepEqual(h, { messages: [] });
    const iPeers = a.messages.findIndex((m) => m.event === 'peers');
    const iHist = a.messages.findIndex((m) => m.event === 'chat-history');
    assert.ok(iPeers >= 0 && iPeers < iHist, 'peers comes before chat-history');
  });

  test('join without peerId: the server makes one (peer_ + 8 hex) and others see it', { timeout: T }, async () => {
    const room = roomId('join');
    const a = await join(room, { label: 'Ann' });
    const b = await join(room, { peerId: null, username: 'Bo' });
    assert.match(b.id, /^peer_[0-9a-f]{8}$/i);
    assert.deepEqual(await a.data('peer-joined', (d) => d.username === 'Bo'), { peerId: b.id, username: 'Bo' });
    const c = await join(room, { peerId: null, username: 'Cy' });
    assert.notEqual(c.id, b.id, 'server-made ids are distinct');
  });

  test('join without username: "Guest"', { timeout: T }, async () => {
    const room = roomId('join');
    const a = await join(room, { label: 'Ann' });
    const b = await join(room, { username: null });
    assert.deepEqual(await a.data('peer-joined'), { peerId: b.id, username: 'Guest' });
  });

  test('join: username stripped of markup and trimmed to 64 characters', { timeout: T }, async () => {
    const room = roomId('join');
    const a = await join(room, { label: 'Ann' });
    const b = await join(room, { username: '<b>Bo</b>' });
    const pj = await a.data('peer-joined', (d) => d.peerId === b.id);
    assert.equal(pj.username, 'Bo');
    const c = await join(room, { username: 'x'.repeat(100) });
    const pj2 = await a.data('peer-joined', (d) => d.peerId === c.id);
    assert.equal(pj2.username, 'x'.repeat(64));
  });

  test('a 128-character room id is valid', { timeout: T }, async () => {
    const room = `${roomId('max')}-`.padEnd(128, 'z');
    assert.equal(room.length, 128);
    const a = await join(room, { label: 'Ann' });
    assert.equal(a.peers.isHost, true);
  });
});

suite('conference: INVALID_ROOM', () => {
  // The id is in the URL; the error may come right after the upgrade or in
  // answer to `join`: we send `join` once open, and expect error + close 1008.
  for (const [what, room] of [
    ['a 129-character id', 'a'.repeat(129)],
    ['bad!id', 'bad!id'],
    ['an empty id (/room//websocket)', ''],
    ['an id with a dot (a.b)', 'a.b'],
  ]) {
    test(`INVALID_ROOM for ${what}, then close 1008`, { timeout: T }, async () => {
      const c = await connect(room, { label: `room "${room.slice(0, 20)}"` });
      c.send('join', { peerId: peerId(), username: 'X' });
      const err = await c.error('INVALID_ROOM');
      assert.equal(typeof err.message, 'string', 'INVALID_ROOM carries a message');
      assert.equal(c.all('peers').length, 0, 'no peers for an invalid room');
      await c.expectClose(1008);
    });
  }
});

suite('conference: join errors', () => {
  test('NOT_JOINED: any event but ping before join; the connection stays open', { timeout: T }, async () => {
    const room = roomId('nj');
    const c = await connect(room, { label: 'early' });
    c.send('raise-hand', {});
    assertError(await c.error('NOT_JOINED'), 'NOT_JOINED');
    c.send('chat-message', { message: 'hi' });
    await c.error('NOT_JOINED');
    c.send('offer', { targetPeerId: 'peer_00000000', sdp: 'x' });
    await c.error('NOT_JOINED');
    await c.ping(); // ping is allowed before join
    assert.ok(c.isOpen);
    await sendJoin(c, { peerId: peerId(), username: 'Late' });
    assert.equal(c.peers.isHost, true);
  });

  test('ping before join → pong {}', { timeout: T }, async () => {
    const c = await connect(roomId('nj'), { label: 'early' });
    c.send('ping');
    const pong = await c.take('pong');
    assert.deepEqual(pong.data ?? {}, {});
    assert.equal(c.all('error').length, 0);
  });

  test('ALREADY_JOINED: a second join on the same connection; connection stays open and joined', { timeout: T }, async () => {
    const room = roomId('aj');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    const mark = a.mark();
    b.send('join', { peerId: peerId(), username: 'Again' });
    assertError(await b.error('ALREADY_JOINED'), 'ALREADY_JOINED');
    await settle(b, a);
    assert.ok(b.isOpen);
    assertNone(a, mark, ['peer-joined', 'peer-left'], 'a refused second join changes nothing');
    // b is still in the room under its first id
    b.send('raise-hand', {});
    assert.equal((await a.data('raise-hand')).peerId, b.id);
  });

  test('PEER_ID_TAKEN: a peerId held by a live connection; close 1008; the holder stays', { timeout: T }, async () => {
    const room = roomId('taken');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    const mark = a.mark();
    const { error } = await joinRefused(room, 'PEER_ID_TAKEN', { peerId: b.id, username: 'Thief' });
    assertError(error, 'PEER_ID_TAKEN');
    await settle(b, a);
    assert.ok(b.isOpen, 'the holder keeps its connection');
    assertNone(a, mark, ['peer-joined', 'peer-left']);
  });

  test('ROOM_FULL: the 6th joiner (max_participants 5) gets ROOM_FULL then close 1008', { timeout: T }, async () => {
    const room = roomId('full');
    const clients = await joinAll(room, ['P1', 'P2', 'P3', 'P4', 'P5']);
    assert.equal(clients.length, CONF.maxParticipants);
    const mark = clients[0].mark();
    await joinRefused(room, 'ROOM_FULL');
    await settle(clients[0]);
    assertNone(clients[0], mark, 'peer-joined', 'a refused joiner is never announced');
    for (const c of clients) assert.ok(c.isOpen, `${c.label} stays`);
    // a place frees up: the next joiner gets in
    await clients[4].close(1000);
    await clients[0].data('peer-left', (d) => d.peerId === clients[4].id);
    const late = await join(room, { label: 'P6' });
    assert.equal(late.peers.peers.length, 4);
  });
});

suite('conference: isolation', () => {
  test('two rooms with the same peerIds do not see each other', { timeout: T }, async () => {
    const r1 = roomId('iso1');
    const r2 = roomId('iso2');
    const pa = peerId();
    const pb = peerId();
    const a1 = await join(r1, { peerId: pa, username: 'A1' });
    const a2 = await join(r2, { peerId: pa, username: 'A2' });
    assert.equal(a2.peers.isHost, true, 'same peerId in another room is an independent peer');
    assert.deepEqual(a2.peers.peers, []);
    const m1 = a1.mark();
    const m2 = a2.mark();
    const b1 = await join(r1, { peerId: pb, username: 'B1' });
    const b2 = await join(r2, { peerId: pb, username: 'B2' });
    assert.deepEqual(b1.peers.peers, [{ peerId: pa, username: 'A1' }]);
    assert.deepEqual(b2.peers.peers, [{ peerId: pa, username: 'A2' }]);
    // traffic in room 1 only
    b1.send('chat-message', { message: 'room one only' });
    b1.send('raise-hand', {});
    b1.send('offer', { targetPeerId: pa, sdp: 'v=0 room1' });
    b1.send('reaction', { emoji: '👍' });
    await a1.take('offer');
    await settle(b1, a1, a2, b2);
    const a1Events = sorted(a1.since(m1).map((m) => m.event).filter((e) => e !== 'pong'));
    assert.deepEqual(a1Events, sorted(['peer-joined', 'chat-message', 'raise-hand', 'offer', 'reaction']));
    assertNone(a2, m2, ['chat-message', 'raise-hand', 'offer', 'reaction'], 'room 2 is isolated from room 1');
    assert.deepEqual(
      a2.since(m2).filter((m) => m.event === 'peer-joined').map((m) => m.data),
      [{ peerId: pb, username: 'B2' }],
    );
    assert.ok(!b2.all('chat-message').length && !b2.all('raise-hand').length, 'B2 sees nothing of room 1');
  });
});
