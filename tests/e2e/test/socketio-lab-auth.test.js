// Namespace /lab requires a JWT: `auth.token` (optionally "Bearer <jwt>"),
// the `token` query parameter, or an `Authorization: Bearer` header. The
// connection hook's rejection reaches the client as connect_error with the
// hook's message: "missing token", "invalid token", "token expired".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  connect, connectError, mintToken, jwtPayload, ack, sleep, TEST_TIMEOUT,
} from './helpers.js';

async function assertWhoami(socket, expected) {
  const [me] = await ack(socket, 'whoami');
  assert.equal(me.sid, socket.id, 'whoami.sid is the socket id');
  for (const [k, v] of Object.entries(expected)) assert.equal(me[k], v, `whoami.${k}`);
  return me;
}

test('a JWT in auth.token connects to /lab; whoami reports the token identity', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({
    sub: 'u-alice', name: 'Alice', claims: { email: 'alice@example.com', role: 'admin' },
  });
  const socket = await connect('/lab', { auth: { token } });
  await assertWhoami(socket, { userId: 'u-alice', name: 'Alice', email: 'alice@example.com', role: 'admin' });
  socket.disconnect();
});

test('auth.token with a leading "Bearer " is accepted', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({ sub: 'u-bob', name: 'Bob' });
  const socket = await connect('/lab', { auth: { token: `Bearer ${token}` } });
  await assertWhoami(socket, { userId: 'u-bob', name: 'Bob' });
  socket.disconnect();
});

test('the token query parameter is accepted', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({ sub: 'u-carol', name: 'Carol' });
  const socket = await connect('/lab', { query: { token } });
  await assertWhoami(socket, { userId: 'u-carol', name: 'Carol' });
  socket.disconnect();
});

test('an Authorization: Bearer header (extraHeaders) is accepted', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({ sub: 'u-dave', name: 'Dave' });
  const socket = await connect('/lab', { extraHeaders: { Authorization: `Bearer ${token}` } });
  await assertWhoami(socket, { userId: 'u-dave', name: 'Dave' });
  socket.disconnect();
});

test('an Authorization: Bearer header works on a websocket-only connection too', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({ sub: 'u-erin', name: 'Erin' });
  const socket = await connect('/lab', {
    transports: ['websocket'], extraHeaders: { Authorization: `Bearer ${token}` },
  });
  assert.equal(socket.io.engine.transport.name, 'websocket');
  await assertWhoami(socket, { userId: 'u-erin', name: 'Erin' });
  socket.disconnect();
});

test('connecting to /lab without a token fails with connect_error "missing token"', { timeout: TEST_TIMEOUT }, async () => {
  const err = await connectError('/lab');
  assert.equal(err.message, 'missing token');
  const err2 = await connectError('/lab', { auth: { somethingElse: 1 } });
  assert.equal(err2.message, 'missing token');
});

test('a token signed with another secret fails with connect_error "invalid token"', { timeout: TEST_TIMEOUT }, async () => {
  const forged = await mintToken({ sub: 'mallory', name: 'Mallory', secret: 'not-the-e2e-secret' });
  const err = await connectError('/lab', { auth: { token: forged } });
  assert.equal(err.message, 'invalid token');
});

test('a token with a tampered payload fails with connect_error "invalid token"', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({ sub: 'u-frank', name: 'Frank' });
  const [header, , signature] = token.split('.');
  const payload = { ...jwtPayload(token), sub: 'admin' };
  const tampered = `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${signature}`;
  const err = await connectError('/lab', { auth: { token: tampered } });
  assert.equal(err.message, 'invalid token');
});

test('a malformed token fails with connect_error "invalid token"', { timeout: TEST_TIMEOUT }, async () => {
  const err = await connectError('/lab', { auth: { token: 'not-a-jwt' } });
  assert.equal(err.message, 'invalid token');
  const err2 = await connectError('/lab', { query: { token: 'a.b.c' } });
  assert.equal(err2.message, 'invalid token');
});

test('an expired token fails with connect_error "token expired"', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({ sub: 'u-grace', name: 'Grace', ttl: 1 });
  const { exp } = jwtPayload(token);
  assert.equal(typeof exp, 'number', 'the minted token has an exp claim');
  // wait until the token is strictly past its expiry second (at most ~2 s)
  const waitMs = (exp + 1) * 1000 - Date.now();
  if (waitMs > 0) await sleep(waitMs);
  const err = await connectError('/lab', { auth: { token } });
  assert.equal(err.message, 'token expired');
});

test('a rejected /lab connection does not affect an accepted one', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({ sub: 'u-heidi', name: 'Heidi' });
  const good = await connect('/lab', { auth: { token } });
  const err = await connectError('/lab', { auth: { token: 'garbage' } });
  assert.equal(err.message, 'invalid token');
  await assertWhoami(good, { userId: 'u-heidi' });
  good.disconnect();
});
