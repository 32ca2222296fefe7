// Conference app: ping/pong, idle close, leave, close 1000, host hand-over,
// reconnection grace, empty-room deletion.
// Contract: docs/conference.md "Everyone" (ping, leave) and "Leaving, host hand-over, reconnection".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CONF,
  T,
  T_LONG,
  api,
  assertNone,
  connect,
  ids,
  join,
  joinAll,
  participant,
  peerId,
  roomId,
  roomState,
  sendJoin,
  settle,
  sleep,
  until,
  suite,
} from './conference-helpers.js';

const GRACE_MS = CONF.reconnectGraceSeconds * 1000;
const IDLE_MS = CONF.idleTimeoutSeconds * 1000;

suite('conference: ping and idle', () => {
  test('ping → pong {} (with or without data)', { timeout: T }, async () => {
    const a = await join(roomId('ping'), { label: 'Ann' });
    a.send('ping', {});
    assert.deepEqual((await a.take('pong')).data ?? {}, {});
    a.send('ping', { t: 123 });
    await a.take('pong');
    a.sendRaw(JSON.stringify({ event: 'ping' })); // no data at all
    await a.take('pong');
    assert.equal(a.all('error').length, 0, a.history());
  });

  test('WebSocket-level pings are answered', { timeout: T }, async () => {
    const a = await join(roomId('wsping'), { label: 'Ann' });
    const pong = new Promise((resolve) => a.ws.once('pong', (data) => resolve(data.toString())));
    a.ws.ping('hello');
    assert.equal(await Promise.race([pong, sleep(3000).then(() => 'no pong')]), 'hello');
  });

  test(`idle close: a silent connection is closed with 1001 after idle_timeout_seconds (${CONF.idleTimeoutSeconds} s)`, { timeout: T_LONG }, async () => {
    const room = roomId('idle');
    // autoPong off: the client answers no server ping, so it is truly silent
    const a = await connect(room, { label: 'Silent', wsOptions: { autoPong: false } });
    await sendJoin(a, { peerId: peerId(), username: 'Silent' });
    const t0 = Date.now();
    const { code } = await a.closedWithin(3 * IDLE_MS);
    const elapsed = Date.now() - t0;
    assert.equal(code, 1001, 'idle close code');
    assert.ok(elapsed >= IDLE_MS - 500, `closed after ${elapsed} ms, not before ~${IDLE_MS} ms of silence`);
  });

  test('ping events every second keep a connection open past idle_timeout_seconds', { timeout: T_LONG }, async () => {
    const a = await connect(roomId('keep'), { label: 'Pinger', wsOptions: { autoPong: false } });
    await sendJoin(a, { username: 'Pinger' });
    const until_ = Date.now() + IDLE_MS + 1500;
    while (Date.now() < until_) {
      await a.ping();
      await sleep(900);
    }
    assert.ok(a.isOpen, `still open: ${JSON.stringify(a.closeInfo)}`);
  });
});

suite('conference: leaving', () => {
  test('leave {} → everyone else gets peer-left {peerId} at once', { timeout: T }, async () => {
    const room = roomId('leave');
    const [a, b, c] = await joinAll(room, ['Ann', 'Bo', 'Cy']);
    const t0 = Date.now();
    c.send('leave', {});
    for (const x of [a, b]) assert.deepEqual(await x.data('peer-left', (d) => d.peerId === c.id), { peerId: c.id });
    assert.ok(Date.now() - t0 < GRACE_MS / 2, 'no grace for leave');
    const st = await roomState(room);
    assert.equal(participant(st, c.id), undefined, 'gone from the state');
    const n = await join(room, { label: 'Newcomer' });
    assert.deepEqual(ids(n.peers.peers), ids([a.id, b.id]));
  });

  test('close code 1000 → everyone else gets peer-left {peerId} at once', { timeout: T }, async () => {
    const room = roomId('close');
    const [a, b, c] = await joinAll(room, ['Ann', 'Bo', 'Cy']);
    const t0 = Date.now();
    await c.close(1000);
    for (const x of [a, b]) assert.deepEqual(await x.data('peer-left', (d) => d.peerId === c.id), { peerId: c.id });
    assert.ok(Date.now() - t0 < GRACE_MS / 2, `peer-left after ${Date.now() - t0} ms: no grace for close 1000`);
  });

  test('host-changed {hostId}: the host leaves → the longest-present co-host becomes host', { timeout: T }, async () => {
    const room = roomId('handover');
    const [h, a, b, c] = await joinAll(room, ['Host', 'Ann', 'Bo', 'Cy']);
    // two co-hosts, promoted in the opposite order of their arrival
    h.send('promote-co-host', { targetPeerId: c.id });
    await a.data('promote-co-host', (d) => d.targetPeerId === c.id);
    h.send('promote-co-host', { targetPeerId: b.id });
    await a.data('promote-co-host', (d) => d.targetPeerId === b.id);
    await h.close(1000);
    for (const x of [a, b, c]) {
      assert.deepEqual(await x.data('host-changed'), { hostId: b.id }, `${x.label}: the longest-present co-host is Bo`);
      await x.data('peer-left', (d) => d.peerId === h.id);
    }
    const n = await join(room, { label: 'Newcomer' });
    assert.equal(n.peers.hostId, b.id);
    assert.equal((await roomState(room)).hostId, b.id);
    // the new host can use host commands
    b.send('room-locked', {});
    await a.data('room-locked');
  });

  test('host-changed {hostId}: the host leaves (leave event), no co-host → the longest-present peer becomes host', { timeout: T }, async () => {
    const room = roomId('handover');
    const [h, a, b] = await joinAll(room, ['Host', 'Ann', 'Bo']);
    h.send('leave', {});
    for (const x of [a, b]) {
      assert.deepEqual(await x.data('host-changed'), { hostId: a.id });
      await x.data('peer-left', (d) => d.peerId === h.id);
    }
    // again: Ann leaves, Bo is the only one left
    await a.close(1000);
    assert.deepEqual(await b.data('host-changed', (d) => d.hostId === b.id), { hostId: b.id });
    const n = await join(room, { label: 'Newcomer' });
    assert.equal(n.peers.hostId, b.id);
    assert.equal(n.peers.isHost, false);
  });

  test('a non-host leaving causes no host-changed', { timeout: T }, async () => {
    const room = roomId('nohandover');
    const [h, a, b] = await joinAll(room, ['Host', 'Ann', 'Bo']);
    await b.close(1000);
    await a.data('peer-left', (d) => d.peerId === b.id);
    await settle(h, a);
    assertNone(a, 0, 'host-changed');
    assertNone(h, 0, 'host-changed');
  });

  test(`an empty room is deleted empty_room_ttl_seconds (${CONF.emptyRoomTtlSeconds} s) after its last peer left`, { timeout: T }, async () => {
    const room = roomId('ttl');
    const a = await join(room, { label: 'Ann' });
    await a.close(1000);
    const t0 = Date.now();
    await until(
      async () => (await api('GET', `/api/v1/conference/rooms/${room}`)).status === 404,
      'GET room answers 404',
      CONF.emptyRoomTtlSeconds * 1000 + 4000,
    );
    assert.ok(Date.now() - t0 >= CONF.emptyRoomTtlSeconds * 1000 - 300, `deleted after ${Date.now() - t0} ms, not before the TTL`);
    const list = await api('GET', '/api/v1/conference/rooms');
    assert.ok(!list.body.rooms.some((r) => r.roomId === room), 'not listed any more');
  });
});

suite('conference: reconnection', () => {
  test('a drop without close 1000, then join with the same peerId within the grace → fresh peers; others see nothing; host stays host', { timeout: T_LONG }, async () => {
    const room = roomId('recon');
    const [h, a, b] = await joinAll(room, ['Host', 'Ann', 'Bo']);
    a.keepAlive();
    b.keepAlive();
    await settle(a, b);
    const ma = a.mark();
    const mb = b.mark();
    h.terminate(); // TCP drop, no close frame
    await sleep(300);
    const h2 = await join(room, { peerId: h.id, username: 'Host' });
    assert.equal(h2.peers.yourId, h.id);
    assert.equal(h2.peers.isHost, true, 'the host keeps host');
    assert.equal(h2.peers.hostId, h.id);
    assert.deepEqual(ids(h2.peers.peers), ids([a.id, b.id]), 'fresh peers lists the others');
    await settle(h2, a, b);
    for (const [x, m] of [[a, ma], [b, mb]]) {
      assertNone(x, m, ['peer-left', 'peer-joined', 'host-changed'], 'a reconnect within the grace is invisible');
    }
    // the place is really taken back: signalling reaches the new connection, host commands work
    a.send('offer', { targetPeerId: h.id, sdp: 'v=0 after reconnect' });
    assert.equal((await h2.data('offer')).peerId, a.id);
    h2.send('room-locked', {});
    await b.data('room-locked');
    const st = await roomState(room);
    assert.equal(participant(st, h.id).connected, true);
    assert.equal(st.hostId, h.id);
    // after the grace would have run out, still nothing
    await sleep(GRACE_MS + 300);
    await settle(a);
    assertNone(a, ma, ['peer-left', 'host-changed']);
  });

  test('a reconnect within the grace keeps roles, raised hand and mute state', { timeout: T }, async () => {
    const room = roomId('recon');
    const [h, a, b] = await joinAll(room, ['Host', 'Ann', 'Bo']);
    h.send('promote-co-host', { targetPeerId: a.id });
    await b.data('promote-co-host');
    h.send('mute-participant', { targetPeerId: a.id });
    await b.data('mute-participant');
    a.send('raise-hand', {});
    await b.data('raise-hand');
    await settle(h, b);
    const mb = b.mark();
    a.terminate();
    await sleep(300);
    const a2 = await join(room, { peerId: a.id, username: 'Ann' });
    assert.equal(a2.peers.isHost, false);
    assert.deepEqual(ids(a2.peers.coHosts), [a.id], 'still a co-host');
    assert.deepEqual(ids(a2.peers.mutedPeers), [a.id], 'still muted');
    assert.deepEqual(ids(a2.peers.raisedHands), [a.id], 'hand still raised');
    await settle(a2, b);
    assertNone(b, mb, ['peer-left', 'peer-joined', 'lower-hand', 'demote-co-host']);
  });

  test('REST shows a dropped peer as connected: false during the grace', { timeout: T }, async () => {
    const room = roomId('recon');
    const [h, a] = await joinAll(room, ['Host', 'Ann']);
    a.terminate();
    await until(async () => participant(await roomState(room), a.id)?.connected === false, 'participant.connected false', GRACE_MS);
    assert.ok(h.isOpen);
  });

  test('a close with another code (4000) also gets the grace: no immediate peer-left, rejoin works', { timeout: T }, async () => {
    const room = roomId('recon4000');
    const [h, a] = await joinAll(room, ['Host', 'Ann']);
    const mh = h.mark();
    await a.close(4000, 'client going away');
    await sleep(400);
    await settle(h);
    assertNone(h, mh, 'peer-left', 'no peer-left during the grace');
    const a2 = await join(room, { peerId: a.id, username: 'Ann' });
    assert.equal(a2.peers.isHost, false);
    await settle(a2, h);
    assertNone(h, mh, ['peer-left', 'peer-joined']);
  });

  test('the grace runs out (no rejoin): others get peer-left, and host-changed when it was the host', { timeout: T_LONG }, async () => {
    const room = roomId('expire');
    const [h, a, b] = await joinAll(room, ['Host', 'Ann', 'Bo']);
    a.keepAlive();
    b.keepAlive();
    const t0 = Date.now();
    h.terminate();
    await sleep(Math.min(800, GRACE_MS / 2));
    await settle(a);
    assertNone(a, 0, ['peer-left', 'host-changed'], 'nothing during the grace');
    for (const x of [a, b]) {
      await x.data('peer-left', (d) => d.peerId === h.id, GRACE_MS + 4000);
      assert.deepEqual(await x.data('host-changed', undefined, 2000), { hostId: a.id });
    }
    assert.ok(Date.now() - t0 >= GRACE_MS - 300, `peer-left after ${Date.now() - t0} ms, not before the grace`);
    assert.equal((await roomState(room)).hostId, a.id);
  });

  test('the grace runs out for a non-host: peer-left only', { timeout: T_LONG }, async () => {
    const room = roomId('expire');
    const [h, a] = await joinAll(room, ['Host', 'Ann']);
    h.keepAlive();
    a.terminate();
    await h.data('peer-left', (d) => d.peerId === a.id, GRACE_MS + 4000);
    await settle(h);
    assertNone(h, 0, 'host-changed');
    // the place is gone: the same peerId now joins as a new peer
    const a2 = await join(room, { peerId: a.id, username: 'Ann' });
    assert.equal((await h.data('peer-joined', (d) => d.peerId === a.id)).peerId, a.id);
    assert.equal(a2.peers.isHost, false);
  });
});
