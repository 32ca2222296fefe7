// Shared helpers for the Roomwire end-to-end tests.
//
// Every client created through these helpers is tracked and closed by a
// root-level `after` hook, so a failing test never leaves the test process
// hanging on an open socket.
//
// Note: `node --test test/` also loads this file as a "test file" of its own
// (Node 20 treats every .js file under test/ as one); it defines no tests, so
// that run is a no-op.

import { after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { io, Manager } from 'socket.io-client';
import WebSocket from 'ws';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Base URL of the running conformance server, e.g. http://127.0.0.1:3210 */
export const URL = (process.env.ROOMWIRE_URL ?? 'http://127.0.0.1:3210').replace(/\/+$/, '');
/** Same server, ws:// scheme. */
export const WS_URL = URL.replace(/^http/, 'ws');
/** Path of the roomwire binary (used to mint tokens with the real CLI). */
export const BIN = process.env.ROOMWIRE_BIN
  ? path.resolve(process.env.ROOMWIRE_BIN)
  : path.resolve(HERE, '../../../target/release/roomwire');
/** The secret the server under test was started with (see run.sh). */
export const JWT_SECRET = 'e2e-secret';

/** Default timeout for a single expected event / reply. */
export const STEP_TIMEOUT = 5000;
/** Default per-test timeout (pass as `{ timeout: TEST_TIMEOUT }`). */
export const TEST_TIMEOUT = 15000;

export const sleep = (ms) => delay(ms);

// ---------------------------------------------------------------------------
// resource tracking
// ---------------------------------------------------------------------------

const tracked = new Set();

/** Track anything with a close-ish method so the root hook closes it. */
export function track(closer) {
  tracked.add(closer);
  return closer;
}

/** Close every tracked client (sockets, managers, raw WebSockets). */
export function closeAll() {
  for (const closer of tracked) {
    try {
      closer();
    } catch {
      // already closed
    }
  }
  tracked.clear();
}

after(() => {
  closeAll();
  // Last-resort safety net: if something untracked still keeps the event loop
  // alive, do not let the whole suite hang. The timer is unref'd, so it only
  // fires when the process would otherwise never exit.
  setTimeout(() => {
    console.error('e2e: open handles left after all tests; forcing exit');
    process.exit(process.exitCode || 1);
  }, 3000).unref();
});

// ---------------------------------------------------------------------------
// generic event helpers
// ---------------------------------------------------------------------------

function describeTarget(target) {
  if (target?.nsp !== undefined) return `socket ${target.nsp}`;
  if (target?.url !== undefined) return `ws ${target.url}`;
  return 'emitter';
}

/**
 * Resolve with the argument array of the next `event` emitted by `target`
 * (a socket.io Socket/Manager/engine, or a ws WebSocket / any EventEmitter).
 * Rejects after `timeout` ms.
 */
export function waitFor(target, event, timeout = STEP_TIMEOUT) {
  return new Promise((resolve, reject) => {
    const onEvent = (...args) => {
      clearTimeout(timer);
      resolve(args);
    };
    const timer = setTimeout(() => {
      target.off(event, onEvent);
      reject(new Error(`timed out after ${timeout} ms waiting for "${event}" on ${describeTarget(target)}`));
    }, timeout);
    target.once(event, onEvent);
  });
}

/**
 * Record every occurrence of `event` on `target`; returns an array (of
 * argument arrays) that fills as events arrive. Call `.stop()` to detach.
 */
export function record(target, event) {
  const seen = [];
  const listener = (...args) => seen.push(args);
  target.on(event, listener);
  Object.defineProperty(seen, 'stop', { value: () => target.off(event, listener), enumerable: false });
  return seen;
}

/**
 * Wait until `predicate()` is true (polled), or reject after `timeout` ms.
 */
export async function until(predicate, what, timeout = STEP_TIMEOUT) {
  const deadline = Date.now() + timeout;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting until ${what}`);
    await delay(10);
  }
}

/** Reject if `promise` does not settle within `timeout` ms. */
export function withTimeout(promise, timeout, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeout} ms: ${what}`)), timeout);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------
// tokens (minted with the real CLI)
// ---------------------------------------------------------------------------

/**
 * Mint a JWT with `roomwire token`. Options: sub, name, email, role, ttl
 * (seconds), claims ({k: v} -> repeated --claim k=v), secret (defaults to the
 * server's). Every claim but sub is left out unless given.
 */
export function mintJwt({ sub = 'user-1', name, email, role, ttl, claims = {}, secret = JWT_SECRET } = {}) {
  const args = ['token', '--sub', String(sub)];
  if (name !== undefined) args.push('--name', String(name));
  if (email !== undefined) args.push('--email', String(email));
  if (role !== undefined) args.push('--role', String(role));
  if (ttl !== undefined) args.push('--ttl', String(ttl));
  for (const [k, v] of Object.entries(claims)) args.push('--claim', `${k}=${v}`);
  return new Promise((resolve, reject) => {
    execFile(
      BIN,
      args,
      { env: { ...process.env, ROOMWIRE_JWT_SECRET: secret }, timeout: 10000 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`"${BIN} ${args.join(' ')}" failed: ${err.message}\n${stderr}`));
          return;
        }
        const token = stdout.trim();
        if (!/^[\w-]+\.[\w-]+\.[\w-]*$/.test(token)) {
          reject(new Error(`"roomwire token" did not print a JWT: ${JSON.stringify(stdout)}`));
          return;
        }
        resolve(token);
      },
    );
  });
}

/**
 * mintJwt() with a name by default. Options: sub, name, ttl (seconds),
 * claims ({k: v} -> repeated --claim k=v), secret (defaults to the server's).
 */
export function mintToken({ sub = 'user-1', name = 'User One', ttl, claims = {}, secret = JWT_SECRET } = {}) {
  return mintJwt({ sub, name, ttl, claims, secret });
}

/** Decode (without verifying) the payload of a JWT. */
export function jwtPayload(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

// ---------------------------------------------------------------------------
// Socket.IO clients
// ---------------------------------------------------------------------------

const DEFAULT_CLIENT_OPTS = {
  forceNew: true, // one Manager (one Engine.IO connection) per client unless a test multiplexes on purpose
  reconnection: false, // a failure shows as a failure, not as endless retries
  timeout: STEP_TIMEOUT, // Manager connect timeout
};

/**
 * Create (but do not connect) a Socket.IO client for namespace `nsp`.
 * Register listeners for events the server sends right on connection
 * (`auth`, `hello`) before calling `open(socket)`.
 */
export function client(nsp = '/', opts = {}) {
  const socket = io(URL + nsp, { ...DEFAULT_CLIENT_OPTS, ...opts, autoConnect: false });
  trackSocket(socket);
  return socket;
}

/** Track a socket so that it is closed at the end of the file. */
export function trackSocket(socket) {
  track(() => {
    socket.io.reconnection(false);
    socket.disconnect();
    socket.io.engine?.close();
  });
  return socket;
}

/** Create a Manager (for multiplexing several namespaces on one connection). */
export function manager(opts = {}) {
  const m = new Manager(URL, { reconnection: false, timeout: STEP_TIMEOUT, ...opts, autoConnect: false });
  track(() => {
    m.reconnection(false);
    for (const nsp of Object.keys(m.nsps)) m.nsps[nsp].disconnect();
    m.engine?.close();
  });
  return m;
}

/** Connect `socket`; resolves once connected, rejects on connect_error / timeout. */
export function open(socket, timeout = STEP_TIMEOUT) {
  if (socket.connected) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
    };
    const onConnect = () => {
      cleanup();
      resolve(socket);
    };
    const onError = (err) => {
      cleanup();
      reject(new Error(`connect_error on ${socket.nsp}: ${err.message}`, { cause: err }));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeout} ms connecting to ${socket.nsp}`));
    }, timeout);
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
    if (!socket.active) socket.connect(); // it may already be connecting
  });
}

/** client() + open(). */
export async function connect(nsp = '/', opts = {}) {
  return open(client(nsp, opts));
}

/**
 * Try to connect and expect a connect_error; resolves with the Error.
 * Rejects if the socket connects instead.
 */
export function connectError(nsp, opts = {}, timeout = STEP_TIMEOUT) {
  const socket = client(nsp, opts);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.disconnect();
      reject(new Error(`timed out after ${timeout} ms waiting for connect_error on ${nsp}`));
    }, timeout);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.disconnect();
      reject(new Error(`expected connect_error on ${nsp}, but the socket connected`));
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      socket.disconnect();
      resolve(err);
    });
    socket.connect();
  });
}

/** A token for `sub` plus a connected /lab socket using it (auth.token). */
export async function labClient({ sub = 'user-1', name = 'User One', claims, opts = {} } = {}) {
  const token = await mintToken({ sub, name, claims });
  const socket = await connect('/lab', { auth: { token }, ...opts });
  return socket;
}

/**
 * Emit `event` with `args` and an ack callback; resolves with the array of
 * arguments the server acked with. Rejects after `timeout` ms.
 */
export function ack(socket, event, ...args) {
  return ackWithin(STEP_TIMEOUT, socket, event, ...args);
}

export function ackWithin(timeout, socket, event, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(timeout).emit(event, ...args, (err, ...res) => {
      if (err) reject(new Error(`no ack for "${event}" on ${socket.nsp} within ${timeout} ms`));
      else resolve(res);
    });
  });
}

/** Join `room` on /lab and return the ack payload. */
export async function join(socket, room) {
  const [res] = await ack(socket, 'join', room);
  return res;
}

// ---------------------------------------------------------------------------
// binary
// ---------------------------------------------------------------------------

export function isBinary(x) {
  return Buffer.isBuffer(x) || x instanceof ArrayBuffer || ArrayBuffer.isView(x);
}

export function toBuffer(x) {
  if (Buffer.isBuffer(x)) return x;
  if (x instanceof ArrayBuffer) return Buffer.from(x);
  if (ArrayBuffer.isView(x)) return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  throw new TypeError(`not binary: ${typeof x}`);
}

/** Assert `actual` is binary (Buffer/ArrayBuffer/view) with the bytes of `expected`. */
export function assertBytes(actual, expected, where = 'value') {
  assert.ok(isBinary(actual), `${where}: expected binary, got ${JSON.stringify(actual)?.slice(0, 200)}`);
  assert.ok(toBuffer(actual).equals(toBuffer(expected)), `${where}: bytes differ`);
}

/**
 * Deep-compare `actual` with `expected` where every binary value in
 * `expected` must be matched by a binary value with the same bytes (of any
 * binary type) at the same position in `actual`.
 */
export function assertDeepBinary(actual, expected, where = 'value') {
  if (isBinary(expected)) {
    assertBytes(actual, expected, where);
  } else if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${where}: expected an array, got ${JSON.stringify(actual)}`);
    assert.equal(actual.length, expected.length, `${where}: array length`);
    expected.forEach((e, i) => assertDeepBinary(actual[i], e, `${where}[${i}]`));
  } else if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object' && !isBinary(actual), `${where}: expected an object`);
    assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${where}: keys`);
    for (const k of Object.keys(expected)) assertDeepBinary(actual[k], expected[k], `${where}.${k}`);
  } else {
    assert.deepEqual(actual, expected, where);
  }
}

// ---------------------------------------------------------------------------
// raw WebSocket clients
// ---------------------------------------------------------------------------

/**
 * Open a raw WebSocket to `pathAndQuery` on the server. Resolves with the
 * open `ws.WebSocket`, which has extra fields:
 *   - `inbox`: array of received messages ({ data: Buffer, isBinary });
 *     set it to null to stop collecting
 *   - `closed`: promise of { code, reason } resolved on close
 *   - `errors`: socket errors seen (a closed connection can emit ECONNRESET)
 */
export function openWs(pathAndQuery, options = {}, timeout = STEP_TIMEOUT) {
  const ws = new WebSocket(WS_URL + pathAndQuery, { handshakeTimeout: timeout, ...options });
  track(() => ws.terminate());
  ws.errors = [];
  ws.inbox = [];
  ws.on('error', (err) => ws.errors.push(err));
  // set `ws.inbox = null` to stop collecting (e.g. when flooded on purpose)
  ws.on('message', (data, isBinary) => ws.inbox?.push({ data, isBinary }));
  ws.closed = new Promise((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  return whenOpen(ws, timeout);
}

/**
 * Resolve with `value` (default: `ws`) once the `ws.WebSocket` `ws` is open.
 * Rejects when the server answers the upgrade with an HTTP status, on a socket
 * error, or after `timeout` ms (then `ws` is terminated).
 */
export function whenOpen(ws, timeout = STEP_TIMEOUT, value = ws) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`timed out after ${timeout} ms opening ${ws.url}`));
    }, timeout);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(value);
    });
    ws.once('unexpected-response', (req, res) => {
      clearTimeout(timer);
      reject(new Error(`${ws.url}: unexpected HTTP ${res.statusCode} instead of a WebSocket upgrade`));
      req.destroy();
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${ws.url}: ${err.message}`, { cause: err }));
    });
  });
}

/** Resolve with { code, reason } when `ws` closes; reject after `timeout` ms. */
export function waitClose(ws, timeout = STEP_TIMEOUT) {
  return withTimeout(ws.closed, timeout, `waiting for ${ws.url} to close`);
}

/**
 * A JSON view over a raw WebSocket speaking the lab envelope. `key` is the
 * envelope's name field: "event" (for /ws/lab/event) or "type" (/ws/lab/type).
 */
export class LabWs {
  static async open(key, options) {
    const ws = await openWs(`/ws/lab/${key}`, options);
    return new LabWs(ws, key);
  }

  constructor(ws, key) {
    this.ws = ws;
    this.key = key;
    this.cursor = 0; // index of the next unread message in ws.inbox
  }

  /** Build an envelope: env('echo', 1) -> {event: 'echo', data: 1} (or type). */
  env(name, data) {
    const msg = { [this.key]: name };
    if (data !== undefined) msg.data = data;
    return msg;
  }

  /** Name of an envelope (its event / type field). */
  nameOf(msg) {
    return msg?.[this.key];
  }

  send(name, data) {
    this.ws.send(JSON.stringify(this.env(name, data)));
  }

  sendRaw(text) {
    this.ws.send(text);
  }

  get received() {
    return this.ws.inbox.map((m) => JSON.parse(m.data.toString('utf8')));
  }

  /** Next unread message (parsed), waiting up to `timeout` ms. */
  async next(timeout = STEP_TIMEOUT) {
    await until(() => this.ws.inbox.length > this.cursor, `a message on ${this.ws.url}`, timeout);
    const { data, isBinary } = this.ws.inbox[this.cursor++];
    assert.equal(isBinary, false, 'lab replies are text frames');
    return JSON.parse(data.toString('utf8'));
  }

  /** Skip unread messages until one satisfies `predicate`; returns it. */
  async nextMatching(predicate, timeout = STEP_TIMEOUT) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const msg = await this.next(Math.max(1, deadline - Date.now()));
      if (predicate(msg)) return msg;
    }
  }

  /** Skip unread messages until one named `name` arrives; returns it. */
  nextNamed(name, timeout = STEP_TIMEOUT) {
    return this.nextMatching((msg) => this.nameOf(msg) === name, timeout);
  }

  /** Send a request and return the next message (replies are in order). */
  async request(name, data, timeout) {
    this.send(name, data);
    return this.next(timeout);
  }

  /** Round trip proving the connection is open and serving: ping -> pong. */
  async ping() {
    const pong = await this.request('ping');
    assert.equal(this.nameOf(pong), 'pong', `expected pong, got ${JSON.stringify(pong)}`);
  }

  close() {
    this.ws.close();
  }
}

/** HTTP GET with a timeout (Node 20 global fetch). */
export function get(pathAndQuery, timeout = STEP_TIMEOUT) {
  return fetch(URL + pathAndQuery, { signal: AbortSignal.timeout(timeout) });
}

/**
 * What a test client received, in order, as `{event, data, at, ...}` entries in `messages`;
 * `take()` consumes them one by one, so a test can wait for the next one of a kind.
 * Subclasses push entries, label themselves (`label`) and may say why nothing more can come
 * (`whyStalled()`), for the failure message.
 */
export class Inbox {
  constructor(label) {
    this.label = label;
    this.messages = [];
    this.taken = new Set();
  }

  /** Number of messages received so far (a point to look back from). */
  mark() {
    return this.messages.length;
  }

  /** Messages received since `mark`. */
  since(mark) {
    return this.messages.slice(mark);
  }

  /** Messages named `event` received so far (taken or not). */
  all(event) {
    return this.messages.filter((m) => m.event === event);
  }

  /** Short printable history, for assertion messages. */
  history(from = 0) {
    return (
      this.messages
        .slice(from)
        .map((m) => `${m.event} ${JSON.stringify(m.data)}`.slice(0, 300))
        .join('\n    ') || '(nothing)'
    );
  }

  /** Index of the first not-yet-taken message named `event` whose data satisfies `pred`. */
  _find(event, pred) {
    for (let i = 0; i < this.messages.length; i++) {
      if (this.taken.has(i)) continue;
      const m = this.messages[i];
      if (m.event === event && (!pred || pred(m.data ?? {}))) return i;
    }
    return -1;
  }

  /** Assert none of `events` (whose data satisfies `pred`, when given) arrived since `mark`. */
  none(mark, events, what = '', pred = undefined) {
    const names = Array.isArray(events) ? events : [events];
    const bad = this.since(mark).filter((m) => names.includes(m.event) && (!pred || pred(m.data ?? {})));
    assert.equal(
      bad.length,
      0,
      `${this.label} should not have received ${names.join('/')}${what ? ` (${what})` : ''}; got:\n    ` +
        bad.map((m) => `${m.event} ${JSON.stringify(m.data)}`).join('\n    '),
    );
  }

  /** A note on why no more messages may come (e.g. the connection closed), or ''. */
  whyStalled() {
    return '';
  }

  /**
   * Resolve with the first not-yet-taken message named `event` (whose data satisfies `pred`),
   * waiting up to `timeout` ms, and mark it taken.
   */
  async take(event, pred, timeout = STEP_TIMEOUT) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const i = this._find(event, pred);
      if (i >= 0) {
        this.taken.add(i);
        return this.messages[i];
      }
      if (Date.now() > deadline) {
        throw new assert.AssertionError({
          message:
            `${this.label}: no "${event}"${pred ? ' (matching)' : ''} within ${timeout} ms` +
            `${this.whyStalled()}; received:\n    ${this.history()}`,
        });
      }
      await sleep(5);
    }
  }
}
