// Conference app with `[conference] require_auth = true` (server at ROOMWIRE_SERVE_AUTH_URL).
// Contract: docs/conference.md "Connecting and joining" (Auth), kick ban by user, reconnection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SERVE_AUTH_URL,
  T,
  assertError,
  assertNone,
  connect,
  createRoom,
  join,
  joinRefused,
  mint,
  peerId,
  roomId,
  roomState,
  settle,
  sleep,
  authSuite,
} from './conference-helpers.js';

const base = SERVE_AUTH_URL;
const uniq = (s) => `${s}-${peerId().slice(5)}`;

/** Open a connection to the auth server and expect UNAUTHORIZED then close 1008 without sending anything. */
async function refusedOnOpen(opts) {
  const c = await connect(roomId('auth'), { base, label: 'unauthenticated', ...opts });
  const err = await c.error('UNAUTHORIZED');
  assertError(err, 'UNAUTHORIZED');
  await c.expectClose(1008);
  assert.equal(c.all('peers').length, 0);
}

authSuite('conference auth: refused connections', () => {
  test('UNAUTHORIZED + close 1008 right after open: no token', { timeout: T }, async () => {
    await refusedOnOpen({});
  });

  test('UNAUTHORIZED + close 1008: a token signed with another secret', { timeout: T }, async () => {
    const token = await mint({ sub: 'u-bad', name: 'Bad', secret: 'some-other-secret' });
    await refusedOnOpen({ token });
  });

  test('UNAUTHORIZED + close 1008: a garbage token', { timeout: T }, async () => {
    await refusedOnOpen({ token: 'not.a.jwt' });
  });

  test('UNAUTHORIZED + close 1008: an expired token', { timeout: T }, async () => {
    const token = await mint({ sub: 'u-old', name: 'Old', ttl: -60 });
    await refusedOnOpen({ token });
  });

  test('UNAUTHORIZED + close 1008: a bad Authorization: Bearer header', { timeout: T }, async () => {
    await refusedOnOpen({ headers: { authorization: 'Bearer nope.nope.nope' } });
  });

  test('UNAUTHORIZED even if the client sends join at once (join gets no peers)', { timeout: T }, async () => {
    const c = await connect(roomId('auth'), { base, label: 'eager' });
    c.send('join', { peerId: peerId(), username: 'Eager' });
    await c.error('UNAUTHORIZED');
    await c.expectClose(1008);
    assert.equal(c.all('peers').length, 0);
  });
});

authSuite('conference auth: valid tokens', () => {
  test('a valid token (query ?token=) joins; username comes from the token\'s name, not from join', { timeout: T }, async () => {
    const room = roomId('auth');
    const t1 = await mint({ sub: uniq('u-ann'), name: 'Ann Token' });
    const t2 = await mint({ sub: uniq('u-bo'), name: 'Bo Token' });
    const a = await join(room, { base, token: t1, username: 'Ann Claimed' });
    assert.equal(a.peers.isHost, true);
    const b = await join(room, { base, token: t2, username: 'Bo Claimed' });
    assert.deepEqual(b.peers.peers, [{ peerId: a.id, username: 'Ann Token' }]);
    assert.deepEqual(await a.data('peer-joined'), { peerId: b.id, username: 'Bo Token' });
    b.send('chat-message', { message: 'hi' });
    assert.equal((await a.data('chat-message')).username, 'Bo Token');
  });

  test('a valid token in Authorization: Bearer works too', { timeout: T }, async () => {
    const room = roomId('auth');
    const t = await mint({ sub: uniq('u-hdr'), name: 'Header User' });
    const a = await join(room, { base, headers: { authorization: `Bearer ${t}` }, username: 'ignored' });
    assert.equal(a.peers.isHost, true);
    const st = await roomState(room, { base });
    assert.equal(st.participants[0].username, 'Header User');
  });

  test('username falls back to the token\'s email when it has no name', { timeout: T }, async () => {
    const room = roomId('auth');
    const t1 = await mint({ sub: uniq('u-host'), name: 'Host' });
    const t2 = await mint({ sub: uniq('u-mail'), email: 'mail.only@example.com' });
    const h = await join(room, { base, token: t1 });
    await join(room, { base, token: t2, username: 'ignored' });
    assert.equal((await h.data('peer-joined')).username, 'mail.only@example.com');
  });

  test('username falls back to the user id when the token has neither name nor email', { timeout: T }, async () => {
    const room = roomId('auth');
    const t1 = await mint({ sub: uniq('u-host'), name: 'Host' });
    const sub = uniq('u-bare');
    const t2 = await mint({ sub });
    const h = await join(room, { base, token: t1 });
    await join(room, { base, token: t2, username: 'ignored' });
    assert.equal((await h.data('peer-joined')).username, sub);
  });
});

authSuite('conference auth: kick ban and reconnection by user', () => {
  test('kicked user: UNAUTHORIZED with the same peerId and with a different peerId; other users still join', { timeout: T }, async () => {
    const room = roomId('authkick');
    const th = await mint({ sub: uniq('u-host'), name: 'Host' });
    const tv = await mint({ sub: uniq('u-victim'), name: 'Victim' });
    const to = await mint({ sub: uniq('u-other'), name: 'Other' });
    const h = await join(room, { base, token: th });
    const v = await join(room, { base, token: tv });
    h.send('kicked', { targetPeerId: v.id });
    await v.data('kicked');
    await v.expectClose(4001);
    await h.data('peer-left', (d) => d.peerId === v.id);
    const mh = h.mark();
    await joinRefused(room, 'UNAUTHORIZED', { base, token: tv, peerId: v.id });
    await joinRefused(room, 'UNAUTHORIZED', { base, token: tv, peerId: peerId() });
    await settle(h);
    assertNone(h, mh, 'peer-joined', 'the banned user never gets in');
    const o = await join(room, { base, token: to });
    assert.equal(o.peers.hostId, h.id);
  });

  test('reconnect within the grace: same user + same peerId takes the place back', { timeout: T }, async () => {
    const room = roomId('authrecon');
    const th = await mint({ sub: uniq('u-host'), name: 'Host' });
    const ta = await mint({ sub: uniq('u-ann'), name: 'Ann' });
    const h = await join(room, { base, token: th });
    h.keepAlive();
    const a = await join(room, { base, token: ta });
    await settle(h);
    const mh = h.mark();
    a.terminate();
    await sleep(300);
    const a2 = await join(room, { base, token: ta, peerId: a.id });
    assert.equal(a2.peers.yourId, a.id);
    await settle(a2, h);
    assertNone(h, mh, ['peer-left', 'peer-joined']);
  });

  test('reconnect within the grace: another user with the same peerId does not take the place', { timeout: T }, async () => {
    const room = roomId('authrecon');
    const th = await mint({ sub: uniq('u-host'), name: 'Host' });
    const ta = await mint({ sub: uniq('u-ann'), name: 'Ann' });
    const tm = await mint({ sub: uniq('u-mallory'), name: 'Mallory' });
    const h = await join(room, { base, token: th });
    h.keepAlive();
    const a = await join(room, { base, token: ta });
    await settle(h);
    a.terminate();
    await sleep(300);
    // reading: refused with an error (PEER_ID_TAKEN or UNAUTHORIZED) and closed; no peers
    const m = await connect(room, { base, token: tm, label: 'Mallory' });
    m.send('join', { peerId: a.id, username: 'Mallory' });
    const err = await m.take('error');
    assert.ok(['PEER_ID_TAKEN', 'UNAUTHORIZED'].includes(err.data.code), `refused: ${JSON.stringify(err.data)}`);
    assert.equal(m.all('peers').length, 0, 'Mallory gets no peers');
    // Ann can still take her place back
    const a2 = await join(room, { base, token: ta, peerId: a.id });
    assert.equal(a2.peers.yourId, a.id);
  });

  test('hostUserId (REST) on the auth server: that user becomes host when they join', { timeout: T }, async () => {
    const room = roomId('authhost');
    const bossSub = uniq('u-boss');
    const tb = await mint({ sub: bossSub, name: 'Boss' });
    const tx = await mint({ sub: uniq('u-x'), name: 'X' });
    const res = await createRoom({ roomId: room, hostUserId: bossSub }, { base });
    assert.equal(res.status, 201, res.text);
    const x = await join(room, { base, token: tx });
    assert.equal(x.peers.isHost, true);
    const b = await join(room, { base, token: tb });
    assert.equal(b.peers.isHost, true);
    assert.equal((await roomState(room, { base })).hostId, b.id);
  });
});
