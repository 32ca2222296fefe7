// Conference app: the admin REST API under /api/v1/conference.
// Contract: docs/conference.md "REST".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  API_KEY,
  CONF,
  T,
  api,
  assertObject,
  createRoom,
  join,
  joinAll,
  joinRefused,
  mint,
  participant,
  peerId,
  roomId,
  roomState,
  settle,
  assertNone,
  until,
  suite,
} from './conference-helpers.js';

const BASE = '/api/v1/conference/rooms';
const STATE_KEYS = [
  'roomId',
  'hostId',
  'participants',
  'locked',
  'chatEnabled',
  'waitingRoomEnabled',
  'waiting',
  'recording',
  'maxParticipants',
  'createdAt',
];
const PARTICIPANT_KEYS = ['peerId', 'username', 'isHost', 'isCoHost', 'muted', 'handRaised', 'connected'];

function assertStateShape(st) {
  for (const k of STATE_KEYS) assert.ok(k in st, `state has "${k}": ${JSON.stringify(st)}`);
  assert.ok(Array.isArray(st.participants));
  assert.ok(Array.isArray(st.waiting));
  for (const p of st.participants) for (const k of PARTICIPANT_KEYS) assert.ok(k in p, `participant has "${k}": ${JSON.stringify(p)}`);
}

suite('conference REST: rooms', () => {
  test('GET /api/v1/conference/rooms → 200 {rooms: [state]} including a live room', { timeout: T }, async () => {
    const room = roomId('rest');
    const [h] = await joinAll(room, ['Host', 'Pia']);
    const res = await api('GET', BASE);
    assert.equal(res.status, 200, res.text);
    assert.ok(Array.isArray(res.body.rooms));
    const st = res.body.rooms.find((r) => r.roomId === room);
    assert.ok(st, 'the live room is listed');
    assertStateShape(st);
    assert.equal(st.hostId, h.id);
    assert.equal(st.participants.length, 2);
  });

  test('GET /api/v1/conference/rooms/{roomId} → 200 state with participants', { timeout: T }, async () => {
    const room = roomId('rest');
    const [h, p] = await joinAll(room, ['Host', 'Pia']);
    p.send('raise-hand', {});
    await h.data('raise-hand');
    const st = await roomState(room);
    assertStateShape(st);
    assert.equal(st.roomId, room);
    assert.equal(st.hostId, h.id);
    assert.equal(st.locked, false);
    assert.equal(st.chatEnabled, true);
    assert.equal(st.waitingRoomEnabled, false);
    assert.deepEqual(st.waiting, []);
    assert.equal(st.recording, false);
    assert.equal(st.maxParticipants, CONF.maxParticipants);
    assert.deepEqual(participant(st, h.id), {
      ...participant(st, h.id),
      peerId: h.id,
      username: 'Host',
      isHost: true,
      isCoHost: false,
      muted: false,
      handRaised: false,
      connected: true,
    });
    assert.deepEqual(participant(st, p.id), {
      ...participant(st, p.id),
      peerId: p.id,
      username: 'Pia',
      isHost: false,
      isCoHost: false,
      muted: false,
      handRaised: true,
      connected: true,
    });
  });

  test('GET /api/v1/conference/rooms/{roomId} → 404 for an unknown room', { timeout: T }, async () => {
    const res = await api('GET', `${BASE}/${roomId('nothere')}`);
    assert.equal(res.status, 404);
  });

  test('POST /api/v1/conference/rooms → 201 state; 409 when it exists', { timeout: T }, async () => {
    const room = roomId('create');
    const res = await createRoom({ roomId: room });
    assert.equal(res.status, 201, res.text);
    assertStateShape(res.body);
    assert.equal(res.body.roomId, room);
    assert.equal(res.body.locked, false);
    assert.equal(res.body.maxParticipants, CONF.maxParticipants);
    assert.deepEqual(res.body.participants, []);
    const again = await createRoom({ roomId: room });
    assert.equal(again.status, 409, again.text);
    // and it is joinable, the first joiner being host
    const a = await join(room, { label: 'Ann' });
    assert.equal(a.peers.isHost, true);
  });

  test('POST /api/v1/conference/rooms → 409 for a room that is live over WebSocket', { timeout: T }, async () => {
    const room = roomId('create');
    await join(room, { label: 'Ann' });
    assert.equal((await createRoom({ roomId: room })).status, 409);
  });

  test('POST /api/v1/conference/rooms without roomId → 201 with a generated valid id', { timeout: T }, async () => {
    const res = await createRoom({});
    assert.equal(res.status, 201, res.text);
    assert.match(res.body.roomId, /^[A-Za-z0-9_-]{1,128}$/);
  });

  for (const bad of ['bad!id', 'a'.repeat(129), '']) {
    test(`POST /api/v1/conference/rooms → 400 for roomId ${JSON.stringify(bad.length > 20 ? `${bad.slice(0, 10)}…(${bad.length})` : bad)}`, { timeout: T }, async () => {
      const res = await createRoom({ roomId: bad });
      assert.equal(res.status, 400, res.text);
    });
  }

  test('POST with hostPeerId: that peer becomes host when it joins, even second', { timeout: T }, async () => {
    const room = roomId('hostpeer');
    const boss = peerId();
    assert.equal((await createRoom({ roomId: room, hostPeerId: boss })).status, 201);
    const first = await join(room, { label: 'First' });
    assert.equal(first.peers.isHost, true, 'until the designated host comes, the first joiner is host');
    const b = await join(room, { peerId: boss, username: 'Boss' });
    assert.equal(b.peers.isHost, true);
    assert.equal(b.peers.hostId, boss);
    assert.equal((await roomState(room)).hostId, boss);
    // reading: the previous host is told with host-changed
    assert.deepEqual(await first.data('host-changed'), { hostId: boss });
  });

  test('POST with hostUserId: the user (token read even without require_auth) becomes host', { timeout: T }, async () => {
    const room = roomId('hostuser');
    const bossToken = await mint({ sub: `boss-${peerId()}`, name: 'Boss' });
    const sub = JSON.parse(Buffer.from(bossToken.split('.')[1], 'base64url').toString()).sub;
    assert.equal((await createRoom({ roomId: room, hostUserId: sub })).status, 201);
    const first = await join(room, { label: 'First' });
    assert.equal(first.peers.isHost, true);
    const b = await join(room, { label: 'Boss', token: bossToken });
    assert.equal(b.peers.isHost, true);
    assert.equal((await roomState(room)).hostId, b.id);
  });

  test('POST with maxParticipants: the room\'s own limit → ROOM_FULL', { timeout: T }, async () => {
    const room = roomId('max2');
    const res = await createRoom({ roomId: room, maxParticipants: 2 });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.maxParticipants, 2);
    await joinAll(room, ['Ann', 'Bo']);
    await joinRefused(room, 'ROOM_FULL');
  });

  test('POST with locked: true → joiners get ROOM_LOCKED', { timeout: T }, async () => {
    const room = roomId('locked');
    const res = await createRoom({ roomId: room, locked: true });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.locked, true);
    await joinRefused(room, 'ROOM_LOCKED');
  });

  test('POST with waitingRoom: true → state waitingRoomEnabled', { timeout: T }, async () => {
    const room = roomId('wr');
    const res = await createRoom({ roomId: room, waitingRoom: true });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.waitingRoomEnabled, true);
  });

  test('DELETE /api/v1/conference/rooms/{roomId} → 204; everyone gets room-closed {} and close 4000', { timeout: T }, async () => {
    const room = roomId('del');
    const clients = await joinAll(room, ['Host', 'Ann', 'Bo']);
    const res = await api('DELETE', `${BASE}/${room}`);
    assert.equal(res.status, 204, res.text);
    for (const c of clients) {
      assertObject(await c.data('room-closed'), 'room-closed');
      await c.expectClose(4000);
    }
    assert.equal((await api('GET', `${BASE}/${room}`)).status, 404);
  });

  test('POST /api/v1/conference/rooms/{roomId}/kick {peerId} → 204; the peer is kicked (kicked {}, close 4001), others get peer-left', { timeout: T }, async () => {
    const room = roomId('rkick');
    const [h, p] = await joinAll(room, ['Host', 'Pia']);
    const res = await api('POST', `${BASE}/${room}/kick`, { body: { peerId: p.id } });
    assert.equal(res.status, 204, res.text);
    await p.data('kicked');
    await p.expectClose(4001);
    await h.data('peer-left', (d) => d.peerId === p.id);
    await joinRefused(room, 'UNAUTHORIZED', { peerId: p.id });
  });

  test('POST …/kick → 404 for an unknown peer or room', { timeout: T }, async () => {
    const room = roomId('rkick');
    await join(room, { label: 'Host' });
    assert.equal((await api('POST', `${BASE}/${room}/kick`, { body: { peerId: 'peer_00000000' } })).status, 404);
    assert.equal((await api('POST', `${BASE}/${roomId('none')}/kick`, { body: { peerId: 'peer_00000000' } })).status, 404);
  });

  test('POST /api/v1/conference/rooms/{roomId}/mute {peerId} → 204; mute-participant to the room; state muted', { timeout: T }, async () => {
    const room = roomId('rmute');
    const [h, p] = await joinAll(room, ['Host', 'Pia']);
    const res = await api('POST', `${BASE}/${room}/mute`, { body: { peerId: p.id } });
    assert.equal(res.status, 204, res.text);
    for (const c of [h, p]) assert.equal((await c.data('mute-participant')).targetPeerId, p.id);
    assert.equal(participant(await roomState(room), p.id).muted, true);
  });

  test('POST …/mute → 404 for an unknown peer or room', { timeout: T }, async () => {
    const room = roomId('rmute');
    await join(room, { label: 'Host' });
    assert.equal((await api('POST', `${BASE}/${room}/mute`, { body: { peerId: 'peer_00000000' } })).status, 404);
    assert.equal((await api('POST', `${BASE}/${roomId('none')}/mute`, { body: { peerId: 'peer_00000000' } })).status, 404);
  });

  test('GET /api/v1/conference/rooms/{roomId}/chat → 200 {messages} (stored chat, oldest first)', { timeout: T }, async () => {
    const room = roomId('rchat');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    a.send('chat-message', { message: 'first' });
    const m1 = await b.data('chat-message', (d) => d.message === 'first');
    b.send('chat-message', { message: 'second' });
    const m2 = await a.data('chat-message', (d) => d.message === 'second');
    const res = await api('GET', `${BASE}/${room}/chat`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(
      res.body.messages.map((m) => [m.id, m.peerId, m.message]),
      [[m1.id, a.id, 'first'], [m2.id, b.id, 'second']],
    );
  });

  test('GET /api/v1/conference/rooms/{roomId}/events → 200 {events} with joins, leaves, host changes, kicks, locks', { timeout: T }, async () => {
    const room = roomId('revents');
    const [h, a, b] = await joinAll(room, ['Host', 'Ann', 'Bo']);
    h.send('room-locked', {});
    await a.data('room-locked');
    h.send('kicked', { targetPeerId: b.id });
    await b.expectClose(4001);
    await h.close(1000);
    await a.data('host-changed');
    // reading: the event log may be written a moment after the fact; allow 3 s
    let res;
    await until(async () => {
      res = await api('GET', `${BASE}/${room}/events`);
      return res.status !== 200 || !Array.isArray(res.body?.events) || res.body.events.length >= 7;
    }, 'events to be recorded', 3000).catch(() => {});
    assert.equal(res.status, 200, res.text);
    assert.ok(Array.isArray(res.body.events), 'events is an array');
    const text = JSON.stringify(res.body.events).toLowerCase();
    for (const id of [h.id, a.id, b.id]) assert.ok(text.includes(id), `events mention ${id}: ${text.slice(0, 500)}`);
    for (const word of ['join', 'lock', 'kick', 'host']) assert.ok(text.includes(word), `events include a ${word} event: ${text.slice(0, 800)}`);
    assert.ok(res.body.events.length >= 7, `3 joins, a lock, a kick, a leave and a host change: ${res.body.events.length}: ${text}`);
  });
});

suite('conference REST: credentials', () => {
  const room = roomId('creds');
  const ENDPOINTS = [
    ['GET', BASE],
    ['GET', `${BASE}/${room}`],
    ['POST', BASE, { roomId: roomId('creds') }],
    ['DELETE', `${BASE}/${room}`],
    ['POST', `${BASE}/${room}/kick`, { peerId: 'peer_00000000' }],
    ['POST', `${BASE}/${room}/mute`, { peerId: 'peer_00000000' }],
    ['GET', `${BASE}/${room}/chat`],
    ['GET', `${BASE}/${room}/events`],
  ];

  test('401 without credentials, with a wrong API key or a bad JWT (every endpoint)', { timeout: T }, async () => {
    const bad = await mint({ sub: 'admin-x', name: 'X', role: 'admin', secret: 'not-the-secret' });
    for (const [method, path, body] of ENDPOINTS) {
      for (const [what, auth] of [
        ['no credentials', 'none'],
        ['wrong x-api-key', { key: 'wrong-key' }],
        ['bad JWT', { token: bad }],
        ['garbage JWT', { token: 'abc.def.ghi' }],
      ]) {
        const res = await api(method, path, { auth, body });
        assert.equal(res.status, 401, `${method} ${path} with ${what}: ${res.status} ${res.text}`);
      }
    }
  });

  test('403 with a valid non-admin JWT (every endpoint)', { timeout: T }, async () => {
    const user = await mint({ sub: 'user-x', name: 'User X', role: 'user' });
    const norole = await mint({ sub: 'user-y', name: 'User Y' });
    for (const [method, path, body] of ENDPOINTS) {
      for (const token of [user, norole]) {
        const res = await api(method, path, { auth: { token }, body });
        assert.equal(res.status, 403, `${method} ${path} with a non-admin JWT: ${res.status} ${res.text}`);
      }
    }
  });

  test('an admin JWT (role admin) is accepted like the API key', { timeout: T }, async () => {
    const admin = await mint({ sub: 'admin-1', name: 'Admin', role: 'admin' });
    const room = roomId('adminjwt');
    const created = await api('POST', BASE, { auth: { token: admin }, body: { roomId: room } });
    assert.equal(created.status, 201, created.text);
    const got = await api('GET', `${BASE}/${room}`, { auth: { token: admin } });
    assert.equal(got.status, 200, got.text);
    const list = await api('GET', BASE, { auth: { token: admin } });
    assert.equal(list.status, 200);
    assert.equal((await api('DELETE', `${BASE}/${room}`, { auth: { token: admin } })).status, 204);
  });

  test('x-api-key e2e-api-key is accepted', { timeout: T }, async () => {
    const res = await api('GET', BASE, { auth: { key: API_KEY } });
    assert.equal(res.status, 200);
  });
});

suite('conference REST: OpenAPI', () => {
  test('GET /api/v1/openapi.json lists the conference paths', { timeout: T }, async () => {
    const res = await api('GET', '/api/v1/openapi.json');
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assert.ok(res.body && typeof res.body.paths === 'object', 'an OpenAPI document with paths');
    assert.ok(res.body.openapi || res.body.swagger, 'has an openapi version field');
    const norm = (p) => p.replace(/\{[^}]+\}/g, '{}');
    const paths = new Map(Object.entries(res.body.paths).map(([p, v]) => [norm(p), v]));
    for (const [p, methods] of [
      ['/api/v1/conference/rooms', ['get', 'post']],
      ['/api/v1/conference/rooms/{}', ['get', 'delete']],
      ['/api/v1/conference/rooms/{}/kick', ['post']],
      ['/api/v1/conference/rooms/{}/mute', ['post']],
      ['/api/v1/conference/rooms/{}/chat', ['get']],
      ['/api/v1/conference/rooms/{}/events', ['get']],
    ]) {
      assert.ok(paths.has(p), `openapi lists ${p}; has: ${[...paths.keys()].join(', ')}`);
      for (const m of methods) assert.ok(m in paths.get(p), `openapi: ${m.toUpperCase()} ${p}`);
    }
  });
});

suite('conference REST: kick/mute effects seen over WebSocket', () => {
  test('REST kick: nobody but the target gets kicked', { timeout: T }, async () => {
    const room = roomId('rkick2');
    const [h, p, o] = await joinAll(room, ['Host', 'Pia', 'Oli']);
    const mo = o.mark();
    assert.equal((await api('POST', `${BASE}/${room}/kick`, { body: { peerId: p.id } })).status, 204);
    await o.data('peer-left', (d) => d.peerId === p.id);
    await settle(o, h);
    assertNone(o, mo, 'kicked');
    assert.ok(o.isOpen && h.isOpen);
  });
});
