// Conference app: the frames the real XSAMI frontend (xsami-front, commit d284b32) sends, and
// what it needs back to work unchanged: its chat shape (ISO-string timestamp, its own id, no
// echo), kicks that hold when it rejoins under a fresh peerId, and refusals that end its
// retries. Contract: docs/conference.md "Everyone" (chat), "Kicks and bans", "Refused clients".
//
// The open server runs with http.trusted_proxies = 127.0.0.3 (conference-servers.sh); clients
// pick their source address on the loopback network (127.0.0.x) to be different people.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SERVE_AUTH_URL,
  SERVE_URL,
  T,
  assertError,
  assertNone,
  authSuite,
  connect,
  join,
  joinAll,
  joinRefused,
  mint,
  peerId,
  roomId,
  settle,
  suite,
} from './conference-helpers.js';

/** The frontend's chat message, as its useChat hook builds it. */
function xsamiChat(username, message) {
  return {
    id: `msg_${Date.now()}_${Math.random().toString(36).slice(2, 11)}`,
    username,
    message,
    timestamp: new Date().toISOString(), // `new Date()` through JSON.stringify
    type: 'text',
  };
}

/** Connection options for a client at source address `ip`, optionally behind a proxy header. */
const from = (ip, forwardedFor) => ({
  wsOptions: { localAddress: ip },
  ...(forwardedFor ? { headers: { 'x-forwarded-for': forwardedFor } } : {}),
});

/** Opens a WebSocket to `room`; resolves with the HTTP status if the handshake is refused. */
async function handshakeStatus(room, opts = {}) {
  try {
    const c = await connect(room, { label: 'probe', ...opts });
    await c.close();
    return 101;
  } catch (e) {
    const m = /unexpected HTTP (\d+)/.exec(e.message);
    if (!m) throw e;
    return Number(m[1]);
  }
}

async function refusalCount(stage, reason) {
  const res = await fetch(`${SERVE_URL}/metrics`);
  const text = await res.text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`roomwire_refusals_total{app="conference",reason="${reason}",stage="${stage}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

suite('conference: the XSAMI frontend\'s chat', () => {
  test('chat-message with an ISO 8601 timestamp (new Date()) reaches the others with the client\'s id, timestamp in ms', { timeout: T }, async () => {
    const room = roomId('xchat');
    const [alice, bob, cy] = await joinAll(room, ['Alice', 'Bob', 'Cy']);
    const sent = xsamiChat('Bob', 'hello from Bob');
    const mb = bob.mark();
    bob.send('chat-message', sent);
    for (const other of [alice, cy]) {
      const m = await other.data('chat-message');
      assert.equal(m.id, sent.id, 'the client\'s id is kept');
      assert.equal(m.message, 'hello from Bob');
      assert.equal(m.username, 'Bob');
      assert.equal(m.peerId, bob.id);
      assert.equal(m.type, 'text');
      assert.equal(m.timestamp, Date.parse(sent.timestamp), 'the ISO time, as milliseconds');
      assert.equal(new Date(m.timestamp).toISOString(), sent.timestamp, 'new Date(timestamp) gives the time back');
    }
    await settle(bob);
    assertNone(bob, mb, ['chat-message', 'error'], 'no echo and no error for the sender');
  });

  test('the sender\'s list shows its message exactly once, each receiver\'s once (the frontend appends every chat-message)', { timeout: T }, async () => {
    const room = roomId('xonce');
    const [alice, bob] = await joinAll(room, ['Alice', 'Bob']);
    const lists = { alice: [], bob: [] };
    // What the frontend does: add its own copy on send, add every chat-message received.
    const send = (client, list, username, text) => {
      const m = xsamiChat(username, text);
      list.push(m.id);
      client.send('chat-message', m);
      return m;
    };
    const a1 = send(alice, lists.alice, 'Alice', 'one');
    const b1 = send(bob, lists.bob, 'Bob', 'two');
    await alice.data('chat-message', (d) => d.id === b1.id);
    await bob.data('chat-message', (d) => d.id === a1.id);
    await settle(alice, bob);
    for (const [client, list] of [[alice, lists.alice], [bob, lists.bob]]) {
      for (const m of client.all('chat-message')) list.push(m.data.id);
    }
    assert.deepEqual(lists.alice.filter((id) => id === a1.id).length, 1);
    assert.deepEqual(lists.bob.filter((id) => id === b1.id).length, 1);
    assert.deepEqual(lists.alice.sort(), [a1.id, b1.id].sort());
    assert.deepEqual(lists.bob.sort(), [a1.id, b1.id].sort());
  });

  test('lenient shapes: a numeric id and a millisecond string are accepted; the history keeps them', { timeout: T }, async () => {
    const room = roomId('xlenient');
    const [alice, bob] = await joinAll(room, ['Alice', 'Bob']);
    alice.send('chat-message', { id: 12345, message: 'numeric id', timestamp: '1764920235493', type: 'text' });
    const m = await bob.data('chat-message');
    assert.equal(m.id, '12345');
    assert.equal(m.timestamp, 1764920235493);
    const n = await join(room, { label: 'Newcomer' });
    const h = await n.data('chat-history');
    assert.deepEqual(h.messages.map((x) => [x.id, x.timestamp]), [['12345', 1764920235493]]);
  });

  for (const [what, timestamp] of [
    ['an object', {}],
    ['a word', 'yesterday'],
    ['true', true],
  ]) {
    test(`INVALID_MESSAGE naming the field: a timestamp that is ${what}; nobody gets the message`, { timeout: T }, async () => {
      const room = roomId('xbad');
      const [alice, bob] = await joinAll(room, ['Alice', 'Bob']);
      const mb = bob.mark();
      alice.send('chat-message', { message: 'bad time', timestamp });
      const err = await alice.error('INVALID_MESSAGE');
      assertError(err, 'INVALID_MESSAGE');
      assert.match(err.message, /timestamp|ISO 8601/, err.message);
      await settle(alice, bob);
      assertNone(bob, mb, 'chat-message');
      assert.ok(alice.isOpen);
    });
  }

  test('a message that is not text is still refused (INVALID_MESSAGE)', { timeout: T }, async () => {
    const room = roomId('xbadmsg');
    const [alice] = await joinAll(room, ['Alice', 'Bob']);
    alice.send('chat-message', { ...xsamiChat('Alice', 'x'), message: { text: 'x' } });
    assertError(await alice.error('INVALID_MESSAGE'), 'INVALID_MESSAGE');
  });
});

suite('conference: a kick holds against the frontend\'s rejoin under a fresh peerId', () => {
  test('kicked, then back with a new peerId, the same username and address → UNAUTHORIZED; nobody sees it join', { timeout: T }, async () => {
    const room = roomId('xkick');
    const [host, bob] = await joinAll(room, ['Host', 'Bob']);
    host.send('kicked', { targetPeerId: bob.id });
    await bob.data('kicked');
    await bob.expectClose(4001);
    const mark = host.mark();
    const { error } = await joinRefused(room, 'UNAUTHORIZED', { peerId: peerId(), username: 'Bob' });
    assertError(error, 'UNAUTHORIZED');
    await settle(host);
    assertNone(host, mark, 'peer-joined', 'the kicked user is not back');
  });

  test('after a kick, another person from the same address (other name) and the same name from another address may join', { timeout: T }, async () => {
    const room = roomId('xkick2');
    const [host, bob] = await joinAll(room, ['Host', 'Bob']);
    host.send('kicked', { targetPeerId: bob.id });
    await bob.expectClose(4001);
    const carol = await join(room, { label: 'Carol' });
    assert.equal(carol.peers.yourId, carol.id);
    const otherBob = await join(room, { label: 'Bob', ...from('127.0.0.2') });
    assert.equal(otherBob.peers.yourId, otherBob.id);
  });

  test('behind a trusted proxy the ban follows X-Forwarded-For; from an untrusted peer the header is ignored', { timeout: T }, async () => {
    const room = roomId('xproxy');
    const host = await join(room, { label: 'Host' });
    const zed = await join(room, { label: 'Zed', ...from('127.0.0.3', '203.0.113.7') });
    host.send('kicked', { targetPeerId: zed.id });
    await zed.expectClose(4001);
    // Same client behind the proxy: refused.
    await joinRefused(room, 'UNAUTHORIZED', { username: 'Zed', ...from('127.0.0.3', '203.0.113.7') });
    // Another client behind the same proxy: welcome.
    const other = await join(room, { label: 'Zed', ...from('127.0.0.3', '203.0.113.8') });
    assert.ok(other.peers);
    // Someone not behind the proxy claiming the banned address: the header is not believed,
    // so this is a Zed from 127.0.0.4, a different address.
    const claimer = await join(room, { label: 'Zed', ...from('127.0.0.4', '203.0.113.7') });
    assert.ok(claimer.peers);
  });
});

suite('conference: a refused client\'s retries end', () => {
  test('ROOM_LOCKED: the first refusals get the documented error; from the 4th the handshake is 403; another address and an unlock let people in', { timeout: T }, async () => {
    const room = roomId('xlock');
    const host = await join(room, { label: 'Host' });
    host.send('room-locked', {});
    await host.data('room-locked');
    const before = await refusalCount('handshake', 'locked');
    const retrier = from('127.0.0.5');
    for (let i = 0; i < 3; i++) {
      const { error } = await joinRefused(room, 'ROOM_LOCKED', { username: 'Bob', ...retrier });
      assertError(error, 'ROOM_LOCKED');
    }
    assert.equal(await handshakeStatus(room, retrier), 403, 'the 4th attempt is refused before the WebSocket opens');
    assert.equal(await handshakeStatus(room, retrier), 403);
    assert.ok((await refusalCount('handshake', 'locked')) >= before + 2, 'handshake refusals are counted');
    // Someone else still gets the documented answer, and other rooms are untouched.
    await joinRefused(room, 'ROOM_LOCKED', { username: 'Eve', ...from('127.0.0.6') });
    assert.ok((await join(roomId('xlock-other'), { label: 'Bob', ...retrier })).peers);
    // The cause ends: the blocked address is let in again.
    host.send('room-unlocked', {});
    await host.data('room-unlocked');
    const bob = await join(room, { label: 'Bob', ...retrier });
    assert.equal(bob.peers.roomLocked, false);
  });

  test('a kicked client that keeps rejoining under fresh peerIds is refused at the handshake (403) after 3 refusals', { timeout: T }, async () => {
    const room = roomId('xban');
    const addr = from('127.0.0.7');
    const host = await join(room, { label: 'Host' });
    const bob = await join(room, { label: 'Bob', ...addr });
    host.send('kicked', { targetPeerId: bob.id });
    await bob.expectClose(4001);
    for (let i = 0; i < 3; i++) {
      await joinRefused(room, 'UNAUTHORIZED', { peerId: peerId(), username: 'Bob', ...addr });
    }
    assert.equal(await handshakeStatus(room, addr), 403);
    assert.ok((await refusalCount('join', 'banned')) >= 3, 'join refusals are counted');
    // The host's room goes on.
    await settle(host);
    assert.ok(host.isOpen);
  });
});

authSuite('conference auth: chat_echo_to_sender = true (the auth server turns the echo on)', () => {
  test('the sender gets its own chat-message back, with the same id as the others', { timeout: T }, async () => {
    const room = roomId('xecho');
    const ta = await mint({ sub: `u-echo-a-${peerId()}`, name: 'Ann' });
    const tb = await mint({ sub: `u-echo-b-${peerId()}`, name: 'Bo' });
    const a = await join(room, { base: SERVE_AUTH_URL, token: ta });
    const b = await join(room, { base: SERVE_AUTH_URL, token: tb });
    const sent = xsamiChat('Ann', 'echo me');
    a.send('chat-message', sent);
    const mine = await a.data('chat-message');
    const theirs = await b.data('chat-message');
    assert.equal(mine.id, sent.id);
    assert.deepEqual(mine, theirs);
  });
});
