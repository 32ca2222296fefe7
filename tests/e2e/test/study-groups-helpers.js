// Helpers for the study-groups app's end-to-end tests (docs/study-groups.md).
//
// The app runs under `roomwire serve`; ../study-groups-servers.sh starts one server on SQLite
// and one on PostgreSQL and runs every test/study-groups-*.test.js once against each, with
//   ROOMWIRE_SG_URL      the server's base URL
//   ROOMWIRE_SG_BACKEND  sqlite | postgres (only shown in the test names)
// Both servers run with ROOMWIRE_JWT_SECRET=e2e-secret and the default [study_groups] limits
// (LIMITS below).
//
// Plain `npm test` / run.sh (the conformance server) may load these files too: without
// ROOMWIRE_SG_URL every study-groups suite is reported as skipped.
//
// Like helpers.js, `node --test test/` also loads this file as a test file of its own; it
// defines no tests, so that run is a no-op.

import assert from 'node:assert/strict';
import { afterEach, describe } from 'node:test';
import { createHmac, randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { io } from 'socket.io-client';
import { Inbox, JWT_SECRET, STEP_TIMEOUT, mintJwt, open as openSocket, sleep, track, until } from './helpers.js';

export { sleep, until, STEP_TIMEOUT, mintJwt, randomUUID };

/** Base URL of the study-groups server under test. */
export const SG_URL = (process.env.ROOMWIRE_SG_URL ?? 'http://127.0.0.1:3240').replace(/\/+$/, '');
/** sqlite | postgres: which storage the server under test uses (for test names). */
export const BACKEND = process.env.ROOMWIRE_SG_BACKEND ?? 'unknown backend';
export const SKIP = process.env.ROOMWIRE_SG_URL
  ? false
  : 'ROOMWIRE_SG_URL is not set: run tests/e2e/study-groups-servers.sh';

/** The two namespaces that serve the app. */
export const NSP = '/study-groups';
export const NSP_V1 = '/api/v1/study-groups';
/** The REST prefix the real frontend uses; every route is also served without it. */
export const V1 = '/api/v1';
export const PREFIXES = Object.freeze(['/api/v1', '']);

/** Default [study_groups] limits (docs/study-groups.md "Configuration"). */
export const LIMITS = Object.freeze({
  maxChatLength: 500,
  maxPromptLength: 2000,
  maxRounds: 50,
  maxEventPayloadBytes: 16384,
  maxNameLength: 100,
  chatPageMax: 500,
  chatPageDefault: 100,
});

/** Per-test timeout (pass as `{ timeout: T }`). */
export const T = 20000;

export const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const CAMEL = /^[a-z][a-zA-Z0-9]*$/;

/** The round machine, in order. */
export const ROUND_STATUSES = Object.freeze(['VOTING', 'DISCUSSING', 'REVOTING', 'EXPLAINING', 'DONE']);

/**
 * `describe` for study-groups suites: skipped when ROOMWIRE_SG_URL is not set, the backend
 * in its name; every socket a test opened is closed after it.
 */
export function suite(name, fn) {
  return describe(`${name} [${BACKEND}]`, { skip: SKIP }, (...args) => {
    afterEach(closeSockets);
    return fn(...args);
  });
}

export const sorted = (a) => [...a].sort();

// ---------------------------------------------------------------------------
// users and tokens
// ---------------------------------------------------------------------------

/**
 * Sign an HS256 JWT in-process with arbitrary claims (for shapes `roomwire token` cannot
 * make, e.g. no `sub`). `exp` is added (1 h) unless given or null.
 */
export function signJwt(claims, secret = JWT_SECRET) {
  const now = Math.floor(Date.now() / 1000);
  const body = { iat: now, exp: now + 3600, ...claims };
  if (body.exp === null) delete body.exp;
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = enc({ alg: 'HS256', typ: 'JWT' });
  const payload = enc(body);
  const sig = createHmac('sha256', secret).update(`${head}.${payload}`).digest('base64url');
  return `${head}.${payload}.${sig}`;
}

/**
 * A fresh user: {id (a UUID, the token's sub), name, email, token, label}. Options:
 * name (default "<label> <4 hex>"), noName (token without `name`), email, noEmail, ttl.
 * The token is minted with the real CLI (`roomwire token`).
 */
export async function newUser(label = 'User', { name, noName = false, email, noEmail = false, ttl } = {}) {
  const id = randomUUID();
  const n = noName ? undefined : name ?? `${label} ${id.slice(0, 4)}`;
  const e = noEmail ? undefined : email ?? `${label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${id.slice(0, 8)}@example.test`;
  const token = await mintJwt({ sub: id, name: n, email: e, ttl });
  return { id, name: n, email: e, token, label };
}

/** Another token for the same user (e.g. without a name). Options as mintJwt's. */
export function tokenFor(user, { name, email, ttl } = {}) {
  return mintJwt({ sub: user.id, name, email, ttl });
}

/** Several fresh users at once: newUsers('Ann', 'Bob') → [ann, bob]. */
export function newUsers(...labels) {
  return Promise.all(labels.map((l) => newUser(l)));
}

/** Make the server remember the user's name and email (any authenticated REST call does). */
export async function remember(...users) {
  await Promise.all(
    users.map(async (u) => {
      const res = await api('GET', `${V1}/groups`, { as: u });
      expectStatus(res, 200, `GET /groups as ${u.label}`);
    }),
  );
}

// ---------------------------------------------------------------------------
// REST
// ---------------------------------------------------------------------------

/**
 * Call the REST API. Options: as (a user: its token as `Authorization: Bearer`), token (a
 * token string, or null for no Authorization header), body (JSON-encoded), raw (a body sent
 * as is, with content-type application/json unless headers say otherwise), headers.
 * Resolves with {status, body (parsed JSON or null), text, headers, method, path}.
 */
export async function api(method, path, { as, token, body, raw, headers = {}, timeout = STEP_TIMEOUT } = {}) {
  const h = { ...headers };
  const tok = token !== undefined ? token : as?.token;
  if (tok) h.authorization = `Bearer ${tok}`;
  let payload;
  if (raw !== undefined) {
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
    payload = raw;
  } else if (body !== undefined) {
    h['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(SG_URL + path, { method, headers: h, body: payload, signal: AbortSignal.timeout(timeout) });
  const text = await res.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  return { status: res.status, body: parsed, text, headers: res.headers, method, path };
}

function describeRes(res) {
  return `${res.method} ${res.path} → ${res.status} ${res.text.slice(0, 600)}`;
}

/** Assert the response status. */
export function expectStatus(res, status, what = '') {
  assert.equal(res.status, status, `${what ? `${what}: ` : ''}${describeRes(res)}`);
  return res.body;
}

/**
 * Assert an error response: this status and the body `{statusCode, message, error}` with
 * `error` the status's reason phrase. Returns the body.
 */
export function expectError(res, status, what = '') {
  expectStatus(res, status, what);
  const b = res.body;
  assert.ok(b && typeof b === 'object' && !Array.isArray(b), `error body is a JSON object: ${describeRes(res)}`);
  assert.equal(b.statusCode, status, `error body's statusCode: ${describeRes(res)}`);
  assert.equal(typeof b.message, 'string', `error body's message is a string: ${describeRes(res)}`);
  assert.equal(b.error, STATUS_CODES[status], `error body's error is the reason phrase: ${describeRes(res)}`);
  return b;
}

/** Assert `s` is an ISO 8601 date-time string. */
export function assertIsoTime(s, what = 'time') {
  assert.equal(typeof s, 'string', `${what} is a string: ${JSON.stringify(s)}`);
  assert.match(s, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/, `${what} is ISO 8601: ${s}`);
  assert.ok(!Number.isNaN(Date.parse(s)), `${what} parses: ${s}`);
}

/** Assert two ISO times denote the same instant (to the millisecond; precision may differ). */
export function assertSameTime(a, b, what = 'time') {
  assertIsoTime(a, what);
  assertIsoTime(b, what);
  assert.equal(Date.parse(a), Date.parse(b), `${what}: ${a} and ${b} are the same instant`);
}

/**
 * Assert two records are equal, except that their `timeKeys` only need to denote the same
 * instant (a stored time may come back with another precision than the one first answered).
 */
export function assertSameRecord(actual, expected, timeKeys = ['createdAt'], what = 'record') {
  const strip = (o) => Object.fromEntries(Object.entries(o ?? {}).filter(([k]) => !timeKeys.includes(k)));
  assert.deepEqual(strip(actual), strip(expected), what);
  for (const k of timeKeys) {
    if (expected?.[k] === null || expected?.[k] === undefined) assert.equal(actual?.[k], expected?.[k], `${what}.${k}`);
    else assertSameTime(actual?.[k], expected[k], `${what}.${k}`);
  }
}

/**
 * Assert `actual` has each field of `expected` with that value (deep); other fields are
 * allowed. Keys whose expected value is `undefined` are not checked.
 */
export function assertFields(actual, expected, what = 'payload') {
  assert.ok(actual && typeof actual === 'object', `${what} is an object: ${JSON.stringify(actual)}`);
  for (const [k, v] of Object.entries(expected)) {
    if (v === undefined) continue;
    assert.deepEqual(actual[k], v, `${what}.${k} in ${JSON.stringify(actual)}`);
  }
}

/** Assert `x` has every key of `keys`. */
export function assertKeys(x, keys, what = 'object') {
  assert.ok(x && typeof x === 'object', `${what} is an object: ${JSON.stringify(x)}`);
  for (const k of keys) assert.ok(k in x, `${what} has "${k}": ${JSON.stringify(x).slice(0, 800)}`);
}

export const GROUP_KEYS = ['id', 'name', 'description', 'ownerId', 'createdAt', 'members'];
export const GROUP_MEMBER_KEYS = ['userId', 'userName', 'role', 'addedAt'];
export const SESSION_KEYS = [
  'id',
  'groupId',
  'title',
  'status',
  'facilitatorId',
  'scribeId',
  'createdBy',
  'createdAt',
  'startedAt',
  'startedBy',
  'endedAt',
  'rounds',
  'members',
];
export const ROUND_KEYS = ['id', 'roundIndex', 'prompt', 'status', 'updatedAt'];
export const SESSION_MEMBER_KEYS = ['userId', 'userName', 'groupRole', 'roles', 'attendance', 'joinedAt'];
export const EVENT_KEYS = ['id', 'sessionId', 'roundId', 'roundIndex', 'userId', 'eventType', 'payload', 'createdAt'];
export const CHAT_KEYS = ['id', 'sessionId', 'roundIndex', 'userId', 'userName', 'message', 'createdAt', 'readBy'];

// ---------------------------------------------------------------------------
// groups and sessions
// ---------------------------------------------------------------------------

/** POST /api/v1/groups as `owner` (201 asserted); returns the group. */
export async function createGroup(owner, body = {}) {
  const res = await api('POST', `${V1}/groups`, { as: owner, body: { name: `Group ${randomUUID().slice(0, 6)}`, ...body } });
  return expectStatus(res, 201, 'create group');
}

/** POST .../members {userId, role} as `by`; asserts 201 (or `status`) and returns the body. */
export async function addMember(by, groupId, user, role, status = 201) {
  const body = { userId: typeof user === 'string' ? user : user.id };
  if (role !== undefined) body.role = role;
  const res = await api('POST', `${V1}/groups/${groupId}/members`, { as: by, body });
  return expectStatus(res, status, `add member as ${role ?? 'default'}`);
}

/** A group of `owner` with `members` ([user, role] pairs or users, role MEMBER). */
export async function groupWith(owner, members = [], body = {}) {
  const group = await createGroup(owner, body);
  for (const m of members) {
    const [user, role] = Array.isArray(m) ? m : [m, 'MEMBER'];
    await addMember(owner, group.id, user, role);
  }
  return group;
}

/** POST /api/v1/groups/:groupId/sessions as `by` (201 asserted); returns the session. */
export async function createSession(by, groupId, body = {}) {
  const res = await api('POST', `${V1}/groups/${groupId}/sessions`, {
    as: by,
    body: { rounds: [{ prompt: 'Question 1' }], ...body },
  });
  return expectStatus(res, 201, 'create session');
}

/**
 * A group with a session: owner (OWNER), fac (MEMBER, the facilitator), scribe (MEMBER, the
 * scribe), member (MEMBER), outsider (no member). Every user made a REST call first, so their
 * names are stored. Options: rounds (number of rounds, default 2), start (start the session as
 * fac), attend (labels of users that POST .../join), extra (more labels of MEMBERs, as
 * ctx[label]).
 * Returns {owner, fac, scribe, member, outsider, group, gid, session, sid, users}.
 */
export async function classroom({ rounds = 2, start = false, attend = [], extra = [], title } = {}) {
  const labels = ['owner', 'fac', 'scribe', 'member', 'outsider', ...extra];
  const list = await Promise.all(labels.map((l) => newUser(l[0].toUpperCase() + l.slice(1))));
  const ctx = Object.fromEntries(labels.map((l, i) => [l, list[i]]));
  await remember(...list);
  const group = await groupWith(ctx.owner, [ctx.fac, ctx.scribe, ctx.member, ...extra.map((l) => ctx[l])]);
  const session = await createSession(ctx.owner, group.id, {
    title: title ?? `Session ${randomUUID().slice(0, 6)}`,
    rounds: Array.from({ length: rounds }, (_, i) => ({ prompt: `Question ${i + 1}` })),
    facilitatorId: ctx.fac.id,
    scribeId: ctx.scribe.id,
  });
  Object.assign(ctx, { group, gid: group.id, session, sid: session.id, users: list });
  for (const label of attend) await attendSession(ctx[label], ctx.sid);
  if (start) await startSession(ctx.fac, ctx.sid);
  return ctx;
}

/** PUT /group-sessions/:id/start as `by` (200 asserted). */
export async function startSession(by, sid) {
  return expectStatus(await api('PUT', `${V1}/group-sessions/${sid}/start`, { as: by }), 200, 'start session');
}

/** POST /group-sessions/:id/join as `user` (200 asserted). */
export async function attendSession(user, sid) {
  return expectStatus(await api('POST', `${V1}/group-sessions/${sid}/join`, { as: user }), 200, `join (attend) as ${user.label}`);
}

/** POST /group-sessions/:id/events; returns the response. */
export function postEvent(user, sid, roundIndex, eventType, payload) {
  const body = { round_index: roundIndex, event_type: eventType };
  if (payload !== undefined) body.payload = payload;
  return api('POST', `${V1}/group-sessions/${sid}/events`, { as: user, body });
}

/** postEvent() asserting 201; returns the event. */
export async function submit(user, sid, roundIndex, eventType, payload) {
  return expectStatus(await postEvent(user, sid, roundIndex, eventType, payload), 201, `${eventType} as ${user.label}`);
}

/** POST .../rounds/:roundIndex/advance {to_status}; returns the response. */
export function advance(user, sid, roundIndex, toStatus) {
  return api('POST', `${V1}/group-sessions/${sid}/rounds/${roundIndex}/advance`, { as: user, body: { to_status: toStatus } });
}

/** POST /groups/:groupId/sessions/:sessionId/chat; returns the response. */
export function postChat(user, gid, sid, message, roundIndex) {
  const body = { message };
  if (roundIndex !== undefined) body.round_index = roundIndex;
  return api('POST', `${V1}/groups/${gid}/sessions/${sid}/chat`, { as: user, body });
}

/** GET /group-sessions/:id as `user` (200 asserted). */
export async function getSession(user, sid) {
  return expectStatus(await api('GET', `${V1}/group-sessions/${sid}`, { as: user }), 200, 'get session');
}

/** The session member entry of `user`. */
export function sessionMember(session, user) {
  return session.members?.find((m) => m.userId === (typeof user === 'string' ? user : user.id));
}

// ---------------------------------------------------------------------------
// Socket.IO clients
// ---------------------------------------------------------------------------

const live = new Set();

/** Close every socket a test opened (suite() runs it after each test). */
export function closeSockets() {
  for (const c of live) c.close();
  live.clear();
}

/** Assert the shape every server event shares: an object, ISO `timestamp`, camelCase keys. */
export function assertEventShape(event, data) {
  assert.ok(data && typeof data === 'object' && !Array.isArray(data), `"${event}" payload is an object: ${JSON.stringify(data)}`);
  assert.equal(typeof data.timestamp, 'string', `"${event}" has a timestamp: ${JSON.stringify(data)}`);
  assert.match(data.timestamp, ISO_MS, `"${event}" timestamp is ISO 8601 UTC with milliseconds`);
  const ms = Date.parse(data.timestamp);
  assert.ok(Math.abs(ms - Date.now()) < 5 * 60 * 1000, `"${event}" timestamp is now-ish: ${data.timestamp}`);
  for (const k of Object.keys(data)) assert.match(k, CAMEL, `"${event}" field "${k}" is camelCase`);
}

/**
 * A Socket.IO client of the app that records every event it receives (in order) in `messages`
 * ({event, data, args, at}); `take()` consumes them.
 */
export class SgClient extends Inbox {
  constructor(socket, label, user) {
    super(label);
    this.socket = socket;
    this.user = user;
    socket.onAny((event, ...args) => this.messages.push({ event, data: args[0], args, at: Date.now() }));
    live.add(this);
    track(() => this.close());
  }

  /** Connect; resolves with this client, rejects on connect_error or timeout. */
  async open(timeout = STEP_TIMEOUT) {
    try {
      await openSocket(this.socket, timeout);
    } catch (e) {
      throw new Error(`${this.label}: ${e.message}`, { cause: e.cause ?? e });
    }
    return this;
  }

  get connected() {
    return this.socket.connected;
  }

  /** Emit `event` with `args` and an ack callback; resolves with the ack's first argument. */
  ack(event, ...args) {
    return new Promise((resolve, reject) => {
      this.socket.timeout(STEP_TIMEOUT).emit(event, ...args, (err, ...res) => {
        if (err) reject(new Error(`${this.label}: no ack for "${event}" on ${this.socket.nsp} within ${STEP_TIMEOUT} ms`));
        else resolve(res[0]);
      });
    });
  }

  /** Emit without an ack. */
  emit(event, ...args) {
    this.socket.emit(event, ...args);
  }

  /** joinSession {sessionId} asserting success; returns the ack. */
  async join(sessionId) {
    const res = await this.ack('joinSession', { sessionId });
    assert.equal(res?.success, true, `${this.label}: joinSession ${sessionId} acked ${JSON.stringify(res)}`);
    return res;
  }

  /** leaveSession {sessionId} asserting success; returns the ack. */
  async leave(sessionId) {
    const res = await this.ack('leaveSession', { sessionId });
    assert.equal(res?.success, true, `${this.label}: leaveSession ${sessionId} acked ${JSON.stringify(res)}`);
    return res;
  }

  /**
   * A round trip (an acked `leaveSession` of an unknown session): whatever the server queued
   * for this socket before handling it has arrived when it resolves.
   */
  async sync() {
    await this.ack('leaveSession', { sessionId: randomUUID() });
  }

  whyStalled() {
    return this.socket.connected ? '' : ' (socket disconnected)';
  }

  /**
   * Resolve with the data of the first not-yet-taken `event` (whose data satisfies `pred`),
   * waiting up to `timeout` ms; checks the common event shape (assertEventShape).
   */
  async take(event, pred, timeout = STEP_TIMEOUT) {
    const { data } = await super.take(event, pred, timeout);
    assertEventShape(event, data);
    return data;
  }

  /** Assert nothing at all arrived since `mark`. */
  quiet(mark, what = '') {
    const got = this.since(mark);
    assert.equal(
      got.length,
      0,
      `${this.label} should have received nothing${what ? ` (${what})` : ''}; got:\n    ` +
        got.map((m) => `${m.event} ${JSON.stringify(m.data)}`).join('\n    '),
    );
  }

  /** Resolve when the socket is disconnected (reason), reject after `timeout`. */
  disconnected(timeout = STEP_TIMEOUT) {
    if (!this.socket.connected) return Promise.resolve('already disconnected');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label}: still connected after ${timeout} ms`)), timeout);
      this.socket.once('disconnect', (reason) => {
        clearTimeout(timer);
        resolve(reason);
      });
    });
  }

  /** Drop the connection without a Socket.IO DISCONNECT nor a WebSocket close frame. */
  terminate() {
    const transport = this.socket.io.engine?.transport;
    assert.equal(transport?.name, 'websocket', `${this.label}: terminate() needs the websocket transport`);
    transport.ws.terminate();
  }

  close() {
    live.delete(this);
    try {
      this.socket.io.reconnection(false);
      this.socket.disconnect();
      this.socket.io.engine?.close();
    } catch {
      // already closed
    }
  }
}

/**
 * Create (not connect) a client of the app for `user`. Options:
 *   nsp        namespace (default /study-groups)
 *   via        where the token goes: 'auth' (auth.token, default), 'bearer' (auth.token with
 *              "Bearer "), 'query' (?token=), 'query-bearer', 'header' (Authorization: Bearer)
 *   token      a token instead of user.token (null: none)
 *   transports e.g. ['websocket'] (default: socket.io-client's, polling then upgrade)
 *   label
 */
export function sgSocket(user, { nsp = NSP, via = 'auth', token, transports, label } = {}) {
  const tok = token !== undefined ? token : user?.token;
  let url = SG_URL + nsp;
  const opts = { forceNew: true, reconnection: false, timeout: STEP_TIMEOUT, autoConnect: false };
  if (transports) opts.transports = transports;
  if (tok != null) {
    switch (via) {
      case 'auth':
        opts.auth = { token: tok };
        break;
      case 'bearer':
        opts.auth = { token: `Bearer ${tok}` };
        break;
      case 'query':
        url += `?token=${encodeURIComponent(tok)}`;
        break;
      case 'query-bearer':
        url += `?token=${encodeURIComponent(`Bearer ${tok}`)}`;
        break;
      case 'header':
        opts.extraHeaders = { authorization: `Bearer ${tok}` };
        break;
      default:
        throw new Error(`unknown via: ${via}`);
    }
  }
  return new SgClient(io(url, opts), label ?? user?.label ?? 'anonymous', user);
}

/** sgSocket() + open(). */
export function sgConnect(user, opts = {}) {
  return sgSocket(user, opts).open();
}

/** Connect `user` and join session `sid` (success asserted). */
export async function sgJoined(user, sid, opts = {}) {
  const c = await sgConnect(user, opts);
  await c.join(sid);
  return c;
}

/**
 * Connect and expect a connect_error; resolves with the Error. Rejects if the socket
 * connects instead.
 */
export function sgConnectError(user, opts = {}, timeout = STEP_TIMEOUT) {
  const c = sgSocket(user, opts);
  const socket = c.socket;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      c.close();
      reject(new Error(`timed out after ${timeout} ms waiting for connect_error on ${socket.nsp}`));
    }, timeout);
    socket.once('connect', () => {
      clearTimeout(timer);
      c.close();
      reject(new Error(`expected connect_error on ${socket.nsp}, but the socket connected`));
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      c.close();
      resolve(err);
    });
    socket.connect();
  });
}

/** Assert a failed ack `{success: false, error: {code, message}}` with this code. */
export function assertAckError(res, code, what = '') {
  assert.ok(res && typeof res === 'object', `${what} ack is an object: ${JSON.stringify(res)}`);
  assert.equal(res.success, false, `${what} ack.success is false: ${JSON.stringify(res)}`);
  assert.ok(res.error && typeof res.error === 'object', `${what} ack.error is an object: ${JSON.stringify(res)}`);
  assert.equal(res.error.code, code, `${what} ack.error.code: ${JSON.stringify(res)}`);
  assert.equal(typeof res.error.message, 'string', `${what} ack.error.message is a string: ${JSON.stringify(res)}`);
}
