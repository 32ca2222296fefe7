// Helpers for the conference app's end-to-end tests (docs/conference.md).
//
// The conference app runs under `roomwire serve`, not `conformance`, so these
// tests talk to their own servers (see ../conference-servers.sh):
//   ROOMWIRE_SERVE_URL       server with [conference] require_auth = false
//   ROOMWIRE_SERVE_AUTH_URL  same settings but require_auth = true
// Both were started with ROOMWIRE_JWT_SECRET=e2e-secret and
// ROOMWIRE_HTTP_API_KEY=e2e-api-key and the limits in `CONF` below.
//
// Like helpers.js, `node --test test/` also loads this file as a test file of
// its own; it defines no tests, so that run is a no-op.

import assert from 'node:assert/strict';
import { afterEach, describe } from 'node:test';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { Inbox, STEP_TIMEOUT, mintJwt, sleep, track, until, whenOpen } from './helpers.js';

export { sleep, until, STEP_TIMEOUT };

/** Base URL of the conference server without auth. */
export const SERVE_URL = (process.env.ROOMWIRE_SERVE_URL ?? 'http://127.0.0.1:3220').replace(/\/+$/, '');
/** Base URL of the conference server with `require_auth = true`. */
export const SERVE_AUTH_URL = (process.env.ROOMWIRE_SERVE_AUTH_URL ?? 'http://127.0.0.1:3221').replace(/\/+$/, '');
/**
 * These tests need `roomwire serve` servers (conference-servers.sh starts them
 * and sets the URLs). Plain `npm test` / run.sh, which start only the
 * `conformance` server, also load these files: there every conference suite
 * is reported as skipped instead of failing against nothing.
 */
export const SKIP = process.env.ROOMWIRE_SERVE_URL
  ? false
  : 'ROOMWIRE_SERVE_URL is not set: run tests/e2e/conference-servers.sh';
export const SKIP_AUTH = process.env.ROOMWIRE_SERVE_AUTH_URL
  ? false
  : 'ROOMWIRE_SERVE_AUTH_URL is not set: run tests/e2e/conference-servers.sh';

/**
 * `describe` for conference suites: skipped when the server URL is not set;
 * every conference client a test opened is closed after it (`cleanup`).
 */
export function suite(name, fn) {
  return describe(name, { skip: SKIP }, withCleanup(fn));
}

/** `describe` for suites against the require_auth server (`cleanup` after each test too). */
export function authSuite(name, fn) {
  return describe(name, { skip: SKIP_AUTH }, withCleanup(fn));
}

function withCleanup(fn) {
  return (...args) => {
    afterEach(cleanup);
    return fn(...args);
  };
}

/** `[http] api_key` of both servers (sent as `x-api-key`). */
export const API_KEY = 'e2e-api-key';

/** The `[conference]` settings both servers run with (conference-servers.sh). */
export const CONF = Object.freeze({
  maxParticipants: 5,
  kickBanSeconds: 600,
  reconnectGraceSeconds: 2,
  emptyRoomTtlSeconds: 1,
  idleTimeoutSeconds: 3,
  maxMessagesPerSecond: 20,
  maxChatLength: 200,
  maxMessageBytes: 8192,
  chatHistoryLimit: 50, // default, not overridden
});

/** The six reactions the contract accepts. */
export const EMOJIS = Object.freeze(['👍', '❤️', '😂', '🎉', '👏', '🤔']);

/** Per-test timeout for ordinary tests (pass as `{ timeout: T }`). */
export const T = 15000;
/** Per-test timeout for tests that wait for grace/idle/TTL timers. */
export const T_LONG = 25000;

// ---------------------------------------------------------------------------
// ids
// ---------------------------------------------------------------------------

const hex = (bytes) => randomBytes(bytes).toString('hex');

/** A fresh room id (`[A-Za-z0-9_-]`), unique per call. */
export function roomId(tag = 'r') {
  return `e2e-${tag}-${hex(6)}`;
}

/** A fresh client-made peer id shaped like the real frontend's (`peer_` + 8 hex). */
export function peerId() {
  return `peer_${hex(4)}`;
}

/** peerIds of a list whose items are peerId strings or `{peerId, ...}` objects, sorted. */
export function ids(list) {
  assert.ok(Array.isArray(list), `expected an array, got ${JSON.stringify(list)}`);
  return list.map((x) => (typeof x === 'string' ? x : x?.peerId)).sort();
}

/** Sorted copy of an array of strings. */
export const sorted = (a) => [...a].sort();

// ---------------------------------------------------------------------------
// clients
// ---------------------------------------------------------------------------

const live = new Set();

/**
 * Close (code 1000) every conference client still open. suite() and
 * authSuite() run it after each test, so one test's peers never linger into
 * the next one.
 */
export async function cleanup() {
  const all = [...live];
  live.clear();
  await Promise.all(
    all.map(async (c) => {
      if (c.ws.readyState === WebSocket.OPEN || c.ws.readyState === WebSocket.CONNECTING) {
        try {
          c.ws.close(1000);
        } catch {
          c.ws.terminate();
        }
        const done = await Promise.race([c.closed.then(() => true), sleep(1000).then(() => false)]);
        if (!done) c.ws.terminate();
      }
    }),
  );
}

/** A WebSocket URL for room `room` on `base` (the room id is used as given). */
export function roomUrl(room, { base = SERVE_URL, token, query } = {}) {
  const params = new URLSearchParams(query ?? {});
  if (token !== undefined) params.set('token', token);
  const qs = params.toString();
  return `${base.replace(/^http/, 'ws')}/room/${room}/websocket${qs ? `?${qs}` : ''}`;
}

/**
 * One conference connection: JSON envelopes `{event, data}` over a raw WebSocket.
 *
 *  - `messages`: every message received, parsed, in order, as {event, data, at}
 *  - `take(event, pred?)`: the first not-yet-taken message named `event`
 *    (matching `pred(data)`), waiting for it; marks it taken
 *  - `mark()` / `since(mark)`: slice of messages received after a point
 *  - `closed`: promise of {code, reason}
 */
export class ConfClient extends Inbox {
  constructor(ws, label) {
    super(label);
    this.ws = ws;
    this.pingsSent = 0;
    this.id = undefined; // our peerId once joined
    this.peers = undefined; // data of our `peers`
    this.closeInfo = undefined;
    ws.on('message', (data, isBinary) => {
      let msg;
      try {
        msg = JSON.parse(data.toString('utf8'));
      } catch {
        msg = { event: '<non-JSON>', data: data.toString('utf8') };
      }
      if (isBinary) msg = { event: '<binary>', data: msg };
      msg.at = Date.now();
      this.messages.push(msg);
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString(), at: Date.now() };
        live.delete(this);
        resolve(this.closeInfo);
      });
    });
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Send `{event, data}` (data omitted when undefined). */
  send(event, data = {}) {
    const msg = { event };
    if (data !== undefined) msg.data = data;
    if (event === 'ping') this.pingsSent++;
    this.ws.send(JSON.stringify(msg));
  }

  /** Send a raw text frame. */
  sendRaw(text) {
    this.ws.send(text);
  }

  whyStalled() {
    return this.closeInfo ? ` (connection closed ${this.closeInfo.code} ${this.closeInfo.reason})` : '';
  }

  /** take() the data only. */
  async data(event, pred, timeout) {
    return (await this.take(event, pred, timeout)).data;
  }

  /** Wait for `error {code}` and return its data. */
  async error(code, timeout = STEP_TIMEOUT) {
    return this.data('error', (d) => d.code === code, timeout);
  }

  /**
   * Round trip: send `ping`, wait for the matching `pong`. Since one
   * connection's messages are handled in order, everything this client sent
   * before has been processed when it returns, and everything the server
   * queued for it before answering has arrived.
   */
  async ping(timeout = STEP_TIMEOUT) {
    this.send('ping', {});
    const n = this.pingsSent;
    await until(
      () => this.all('pong').length >= n || this.closeInfo,
      `${this.label}: pong #${n}`,
      timeout,
    );
    assert.ok(this.all('pong').length >= n, `${this.label}: closed (${JSON.stringify(this.closeInfo)}) before pong #${n}`);
    // mark every pong as taken so take('pong') elsewhere is not confused
    this.messages.forEach((m, i) => m.event === 'pong' && this.taken.add(i));
  }

  /** After pings were sent that may have been dropped: count from what arrived. */
  resyncPings() {
    this.pingsSent = this.all('pong').length;
  }

  /** Wait for the connection to close; returns {code, reason}. */
  async closedWithin(timeout = STEP_TIMEOUT) {
    let timer;
    const res = await Promise.race([
      this.closed,
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(null), timeout);
      }),
    ]);
    clearTimeout(timer);
    if (!res) {
      throw new assert.AssertionError({
        message: `${this.label}: still open after ${timeout} ms; received:\n    ${this.history() || '(nothing)'}`,
      });
    }
    return res;
  }

  /** Assert the connection closes with `code` within `timeout`. */
  async expectClose(code, timeout = STEP_TIMEOUT) {
    const res = await this.closedWithin(timeout);
    assert.equal(res.code, code, `${this.label}: close code (reason ${JSON.stringify(res.reason)})`);
    return res;
  }

  /** Close with `code` (default 1000) and wait for the close to complete. */
  async close(code = 1000, reason) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code, reason);
    await this.closedWithin(3000).catch(() => this.ws.terminate());
  }

  /**
   * Send a `ping` event every `ms` ms until the connection closes, so that a
   * client waiting through a timer (grace, TTL) is not closed as idle
   * (idle_timeout_seconds is 3 s here). The pongs are ignored by assertQuiet.
   */
  keepAlive(ms = 1000) {
    if (this.keepAliveTimer) return;
    this.keepAliveTimer = setInterval(() => {
      if (this.ws.readyState === WebSocket.OPEN) this.send('ping', {});
    }, ms);
    this.keepAliveTimer.unref();
    this.ws.once('close', () => clearInterval(this.keepAliveTimer));
  }

  /** Drop the TCP connection without a close frame. */
  terminate() {
    this.ws.terminate();
  }
}

/**
 * Open a WebSocket to room `room` without joining. Options: base (server
 * URL), token (query parameter), headers, query, label, wsOptions (passed to
 * `ws`, e.g. {autoPong: false}). Rejects if the upgrade fails.
 */
export function connect(room, { base = SERVE_URL, token, headers, query, label, wsOptions = {}, timeout = STEP_TIMEOUT } = {}) {
  const url = roomUrl(room, { base, token, query });
  const ws = new WebSocket(url, { handshakeTimeout: timeout, headers, ...wsOptions });
  track(() => ws.terminate());
  ws.on('error', () => {}); // reported through 'close' / the open promise
  const client = new ConfClient(ws, label ?? `ws ${room.length > 40 ? `${room.slice(0, 40)}…` : room}`);
  live.add(client);
  return whenOpen(ws, timeout, client);
}

/** Send `join` on an open client and wait for `peers` (throws on an `error` instead). */
export async function sendJoin(client, { peerId: pid, username } = {}, timeout = STEP_TIMEOUT) {
  const data = {};
  if (pid !== undefined) data.peerId = pid;
  if (username !== undefined) data.username = username;
  client.send('join', data);
  await until(
    () => client._find('peers') >= 0 || client._find('error') >= 0 || client.closeInfo,
    `${client.label}: peers after join`,
    timeout,
  );
  const i = client._find('peers');
  if (i < 0) {
    throw new assert.AssertionError({
      message: `${client.label}: join refused; received:\n    ${client.history() || '(nothing)'}` +
        `${client.closeInfo ? `\n  closed ${client.closeInfo.code} ${client.closeInfo.reason}` : ''}`,
    });
  }
  client.taken.add(i);
  client.peers = client.messages[i].data;
  client.id = client.peers?.yourId;
  // `chat-history` follows `peers`: let it arrive so that a mark() taken after
  // join() does not see it (not taken here; a missing one is reported by its own test)
  await until(() => client._find('chat-history') >= 0 || client.closeInfo, 'chat-history', 1500).catch(() => {});
  return client.peers;
}

/**
 * Connect to `room` and join. Options: those of connect() plus peerId
 * (default: a fresh one; pass null to send none), username (default: the
 * label or 'User'). Resolves with the client; its `peers` data is in
 * `client.peers` and its id in `client.id`.
 */
export async function join(room, opts = {}) {
  const pid = opts.peerId === undefined ? peerId() : opts.peerId ?? undefined;
  const username = opts.username === undefined ? opts.label ?? 'User' : opts.username ?? undefined;
  const client = await connect(room, { ...opts, label: opts.label ?? username ?? pid ?? 'anonymous' });
  await sendJoin(client, { peerId: pid, username });
  return client;
}

/** Join several peers in order: joinAll(room, ['Host', 'Ann', ...]) → clients. */
export async function joinAll(room, labels, opts = {}) {
  const out = [];
  for (const label of labels) out.push(await join(room, { ...opts, label }));
  // let every peer-joined reach the earlier joiners before the test marks its start
  await settle(...out);
  return out;
}

/** Join Host, Pia and Oli (in that order) to a fresh room: {room, h, p, o}. */
export async function trio(tag) {
  const room = roomId(tag);
  const [h, p, o] = await joinAll(room, ['Host', 'Pia', 'Oli']);
  return { room, h, p, o };
}

/**
 * Connect to `room` and send `join` as `username` with a fresh peerId (in
 * `client.id`) without waiting for an answer: with the waiting room on, the
 * server answers `waiting`.
 */
export async function arrive(room, username) {
  const w = await connect(room, { label: username });
  w.id = peerId();
  w.send('join', { peerId: w.id, username });
  return w;
}

/**
 * Connect, send `join`, expect `error {code}` then close `closeCode`
 * (default 1008). Resolves with {client, error data, close}.
 */
export async function joinRefused(room, code, opts = {}, closeCode = 1008) {
  const client = await connect(room, { ...opts, label: opts.label ?? `refused ${code}` });
  const data = {};
  const pid = opts.peerId === undefined ? peerId() : opts.peerId;
  if (pid !== null) data.peerId = pid;
  data.username = opts.username ?? 'Refused';
  client.send('join', data);
  const err = await client.error(code);
  assert.equal(client.all('peers').length, 0, `${client.label}: got peers although refused`);
  const close = await client.expectClose(closeCode);
  return { client, error: err, close };
}

/**
 * A barrier: each client in turn does a ping round trip. Use it before
 * asserting that someone received *nothing*: first the actor's round trip
 * (its command has been handled), then the observers' (whatever the command
 * queued for them has arrived).
 */
export async function settle(...clients) {
  for (const c of clients) await c.ping();
}

/**
 * Assert that none of `events` (names) arrived at `client` since `mark`
 * (only those whose data satisfies `pred`, when given).
 */
export function assertNone(client, mark, events, what = '', pred = undefined) {
  client.none(mark, events, what, pred);
}

/** Assert that nothing but pongs arrived at `client` since `mark`. */
export function assertQuiet(client, mark, what = '') {
  const bad = client.since(mark).filter((m) => m.event !== 'pong');
  assert.equal(
    bad.length,
    0,
    `${client.label} should have received nothing${what ? ` (${what})` : ''}; got:\n    ` +
      bad.map((m) => `${m.event} ${JSON.stringify(m.data)}`).join('\n    '),
  );
}

/**
 * Assert the data of an event documented as `{}` is an object (absent data
 * counts as `{}`). Extra fields are tolerated: clients ignore them.
 */
export function assertObject(data, what = 'data') {
  const d = data ?? {};
  assert.ok(typeof d === 'object' && !Array.isArray(d), `${what} is an object: ${JSON.stringify(data)}`);
}

/** Assert `data` has the error shape `{code, message?}` with this code. */
export function assertError(data, code) {
  assert.equal(data?.code, code);
  if (data.message !== undefined) assert.equal(typeof data.message, 'string', 'error.message is a string');
}

// ---------------------------------------------------------------------------
// REST
// ---------------------------------------------------------------------------

/**
 * Call the REST API. `auth`: 'key' (default, x-api-key), 'none', or
 * {token} (Authorization: Bearer) or {key} (another x-api-key value).
 * Resolves with {status, body (parsed JSON or null), text}.
 */
export async function api(method, path, { body, auth = 'key', base = SERVE_URL, headers = {}, timeout = STEP_TIMEOUT } = {}) {
  const h = { ...headers };
  if (auth === 'key') h['x-api-key'] = API_KEY;
  else if (auth && auth.token) h.authorization = `Bearer ${auth.token}`;
  else if (auth && auth.key !== undefined) h['x-api-key'] = auth.key;
  let payload;
  if (body !== undefined) {
    h['content-type'] = 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(base + path, { method, headers: h, body: payload, signal: AbortSignal.timeout(timeout) });
  const text = await res.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

/** GET the room's REST state (asserting 200). */
export async function roomState(room, opts = {}) {
  const res = await api('GET', `/api/v1/conference/rooms/${room}`, opts);
  assert.equal(res.status, 200, `GET room ${room}: ${res.status} ${res.text}`);
  return res.body;
}

/** POST /api/v1/conference/rooms with `body`; returns the response. */
export function createRoom(body, opts = {}) {
  return api('POST', '/api/v1/conference/rooms', { ...opts, body });
}

/** The participant entry of `pid` in a REST state. */
export function participant(state, pid) {
  return state?.participants?.find((p) => p.peerId === pid);
}

/** A REST state in a comparable form (participants sorted). */
export function normalizeState(state) {
  const s = structuredClone(state);
  if (Array.isArray(s.participants)) s.participants.sort((a, b) => String(a.peerId).localeCompare(String(b.peerId)));
  return s;
}

// ---------------------------------------------------------------------------
// tokens
// ---------------------------------------------------------------------------

/**
 * Mint a JWT with the real CLI (`roomwire token`): helpers.js's mintJwt, where
 * every claim is optional: {sub, name, email, role, ttl, claims, secret}.
 */
export { mintJwt as mint };
