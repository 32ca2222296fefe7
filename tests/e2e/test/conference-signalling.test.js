// Conference app: WebRTC signalling relay (offer / answer / candidate), PEER_NOT_FOUND.
// Contract: docs/conference.md "Signalling"; COMPAT.md (candidate as object or string).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  T,
  assertError,
  assertNone,
  join,
  joinAll,
  roomId,
  settle,
  suite,
} from './conference-helpers.js';

const SDP_OFFER = 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n';
const CANDIDATE = {
  candidate: 'candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0',
  sdpMid: '0',
  sdpMLineIndex: 0,
  usernameFragment: 'abcd',
};

/** A, B, C in a fresh room; A sends `event` to B; B gets it, A and C do not. */
async function relayOnlyToTarget(event, data) {
  const room = roomId(event);
  const [a, b, c] = await joinAll(room, ['Ann', 'Bo', 'Cy']);
  const ma = a.mark();
  const mc = c.mark();
  a.send(event, { targetPeerId: b.id, ...data });
  const got = await b.data(event);
  await settle(a, c, b);
  assertNone(c, mc, event, 'only the target gets it');
  assertNone(a, ma, [event, 'error'], 'the sender gets no echo and no error');
  return { a, b, c, got };
}

suite('conference: signalling relay', () => {
  test('offer {targetPeerId, sdp} → only the target, data as sent, peerId/username of the sender', { timeout: T }, async () => {
    const { a, b, got } = await relayOnlyToTarget('offer', { sdp: SDP_OFFER, extra: { k: [1, 2] } });
    assert.deepEqual(got, { targetPeerId: b.id, sdp: SDP_OFFER, extra: { k: [1, 2] }, peerId: a.id, username: 'Ann' });
  });

  test('offer with sdp as an object ({type, sdp}) is relayed unchanged', { timeout: T }, async () => {
    const sdp = { type: 'offer', sdp: SDP_OFFER };
    const { a, got } = await relayOnlyToTarget('offer', { sdp });
    assert.deepEqual(got.sdp, sdp);
    assert.equal(got.peerId, a.id);
  });

  test('answer {targetPeerId, sdp} → only the target, peerId of the sender', { timeout: T }, async () => {
    const sdp = { type: 'answer', sdp: SDP_OFFER };
    const { a, b, got } = await relayOnlyToTarget('answer', { sdp });
    assert.equal(got.peerId, a.id);
    assert.equal(got.targetPeerId, b.id);
    assert.deepEqual(got.sdp, sdp);
    assert.equal(got.username, 'Ann');
  });

  test('candidate as an object (RTCIceCandidate.toJSON()) → only the target, unchanged', { timeout: T }, async () => {
    const { a, got } = await relayOnlyToTarget('candidate', { candidate: CANDIDATE });
    assert.deepEqual(got.candidate, CANDIDATE);
    assert.equal(got.peerId, a.id);
  });

  test('candidate as a JSON string (older client) → only the target, the same string', { timeout: T }, async () => {
    const str = JSON.stringify(CANDIDATE);
    const { a, got } = await relayOnlyToTarget('candidate', { candidate: str });
    assert.equal(got.candidate, str);
    assert.equal(got.peerId, a.id);
  });

  test('impersonation: a claimed peerId/username is overwritten with the real sender', { timeout: T }, async () => {
    const room = roomId('imp');
    const [a, b, c] = await joinAll(room, ['Ann', 'Bo', 'Mallory']);
    // Mallory claims to be Ann when offering to Bo
    c.send('offer', { peerId: a.id, username: 'Ann', targetPeerId: b.id, sdp: 'v=0 evil' });
    const got = await b.data('offer');
    assert.equal(got.peerId, c.id, 'peerId is the real sender');
    assert.equal(got.username, 'Mallory', 'username is the real sender');
    c.send('candidate', { peerId: a.id, targetPeerId: b.id, candidate: CANDIDATE });
    assert.equal((await b.data('candidate')).peerId, c.id);
    c.send('answer', { peerId: a.id, targetPeerId: b.id, sdp: 'v=0' });
    assert.equal((await b.data('answer')).peerId, c.id);
    await settle(c, a);
    assertNone(a, 0, ['offer', 'answer', 'candidate'], 'the impersonated peer gets nothing');
  });
});

suite('conference: PEER_NOT_FOUND', () => {
  test('PEER_NOT_FOUND: offer/answer/candidate to an unknown targetPeerId', { timeout: T }, async () => {
    const room = roomId('pnf');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    for (const [event, data] of [
      ['offer', { sdp: 'v=0' }],
      ['answer', { sdp: 'v=0' }],
      ['candidate', { candidate: CANDIDATE }],
    ]) {
      a.send(event, { targetPeerId: 'peer_00000000', ...data });
      const err = await a.error('PEER_NOT_FOUND');
      assertError(err, 'PEER_NOT_FOUND');
      assert.equal(typeof err.message, 'string', 'PEER_NOT_FOUND carries a message');
    }
    await settle(a, b);
    assertNone(b, 0, ['offer', 'answer', 'candidate']);
    assert.ok(a.isOpen);
  });

  test('PEER_NOT_FOUND: offer without targetPeerId', { timeout: T }, async () => {
    const room = roomId('pnf');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    a.send('offer', { sdp: 'v=0' });
    assertError(await a.error('PEER_NOT_FOUND'), 'PEER_NOT_FOUND');
    a.send('candidate', { candidate: CANDIDATE });
    await a.error('PEER_NOT_FOUND');
    await settle(a, b);
    assertNone(b, 0, ['offer', 'candidate'], 'no target: nobody gets it');
  });

  test('PEER_NOT_FOUND: a target that exists only in another room', { timeout: T }, async () => {
    const a = await join(roomId('pnf1'), { label: 'Ann' });
    const x = await join(roomId('pnf2'), { label: 'Xi' });
    a.send('offer', { targetPeerId: x.id, sdp: 'v=0' });
    await a.error('PEER_NOT_FOUND');
    await settle(a, x);
    assertNone(x, 0, 'offer', 'signalling never crosses rooms');
  });

  test('PEER_NOT_FOUND: a target that has left', { timeout: T }, async () => {
    const room = roomId('pnf');
    const [a, b] = await joinAll(room, ['Ann', 'Bo']);
    await b.close(1000);
    await a.data('peer-left', (d) => d.peerId === b.id);
    a.send('offer', { targetPeerId: b.id, sdp: 'v=0' });
    await a.error('PEER_NOT_FOUND');
  });
});
