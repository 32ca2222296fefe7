// Tiny contract client for bench/peers/smoke.sh (see ../../CONTRACT.md).
// Usage: node smoke-client.mjs socketio PORT LABEL | node smoke-client.mjs signal PORT LABEL
// Prints one PASS/FAIL line per check; exits 1 if any check failed.
import { isDeepStrictEqual } from "node:util";
import { io } from "socket.io-client";
import WebSocket from "ws";

const [kind, portArg, label = kind] = process.argv.slice(2);
const port = Number(portArg);
const base = `http://127.0.0.1:${port}`;
const QUIET_MS = 300; // how long we wait to be sure that nothing arrives
const TIMEOUT_MS = 3000;

let failures = 0;
function check(name, ok, detail = "") {
  if (!ok) failures++;
  console.log(`${ok ? "PASS" : "FAIL"} [${label}] ${name}${!ok && detail ? ` -- ${detail}` : ""}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const withTimeout = (p, ms, what) =>
  Promise.race([p, sleep(ms).then(() => Promise.reject(new Error(`timeout waiting for ${what}`)))]);

// Collects everything a client receives so that checks can look at "what arrived since".
class Inbox {
  constructor() { this.items = []; this.waiters = []; }
  push(item) {
    this.items.push(item);
    for (const w of this.waiters.splice(0)) w();
  }
  async next(what) {
    const deadline = Date.now() + TIMEOUT_MS;
    while (this.items.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for ${what}`);
      await Promise.race([new Promise((r) => this.waiters.push(r)), sleep(left)]);
    }
    return this.items.shift();
  }
  async quiet() { await sleep(QUIET_MS); return this.items.splice(0); }
}

async function socketio() {
  // Handshake over polling: the contract's defaults.
  try {
    const res = await fetch(`${base}/socket.io/?EIO=4&transport=polling`);
    const body = await res.text();
    const hs = JSON.parse(body.slice(1)); // "0{...}"
    check("handshake pingInterval 25000, pingTimeout 20000, maxPayload 1000000",
      body[0] === "0" && hs.pingInterval === 25000 && hs.pingTimeout === 20000 && hs.maxPayload === 1000000,
      body);
  } catch (e) {
    check("handshake pingInterval 25000, pingTimeout 20000, maxPayload 1000000", false, String(e));
  }

  const connect = (name) => new Promise((resolve, reject) => {
    const s = io(base, { transports: ["websocket"], reconnection: false, forceNew: true });
    s.inbox = new Inbox();
    s.on("msg", (...args) => s.inbox.push(args));
    s.onAny((event, ...args) => { if (event !== "msg") s.inbox.push([`unexpected event ${event}`, ...args]); });
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => reject(new Error(`${name}: ${e.message}`)));
  });

  const sockets = [];
  try {
    const [a, b, c] = await withTimeout(Promise.all(["a", "b", "c"].map(connect)), TIMEOUT_MS, "connect");
    sockets.push(a, b, c);
    check("3 clients connect over websocket", a.io.engine.transport.name === "websocket");

    const acks = await Promise.all([
      a.timeout(TIMEOUT_MS).emitWithAck("join", "room-1"),
      b.timeout(TIMEOUT_MS).emitWithAck("join", "room-1"),
      c.timeout(TIMEOUT_MS).emitWithAck("join", "room-2"),
    ]);
    check('join acks with "ok"', acks.every((x) => x === "ok"), JSON.stringify(acks));

    const p1 = { t: 1234567890123, p: "x".repeat(80) };
    a.emit("to-room", "room-1", p1);
    const gotB = await b.inbox.next("msg at b");
    check("to-room reaches another member with the payload", isDeepStrictEqual(gotB, [p1]), JSON.stringify(gotB));
    const [restA, restB, restC] = await Promise.all([a.inbox.quiet(), b.inbox.quiet(), c.inbox.quiet()]);
    check("to-room excludes the sender", restA.length === 0, JSON.stringify(restA));
    check("to-room delivers once and not to other rooms", restB.length === 0 && restC.length === 0,
      JSON.stringify({ restB, restC }));

    const p2 = { t: 42, p: "all" };
    a.emit("to-room-all", "room-1", p2);
    const [gotA2, gotB2] = await Promise.all([a.inbox.next("msg at a"), b.inbox.next("msg at b")]);
    check("to-room-all reaches the sender", isDeepStrictEqual(gotA2, [p2]), JSON.stringify(gotA2));
    check("to-room-all reaches another member", isDeepStrictEqual(gotB2, [p2]), JSON.stringify(gotB2));
    const rest = await Promise.all([a.inbox.quiet(), b.inbox.quiet(), c.inbox.quiet()]);
    check("to-room-all delivers once and not to other rooms", rest.every((r) => r.length === 0), JSON.stringify(rest));
  } catch (e) {
    check("socket.io scenario ran to the end", false, String(e));
  } finally {
    for (const s of sockets) s.close();
  }
}

async function signal() {
  // A path other than /signal is refused.
  await new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/nope`);
    ws.on("open", () => { check("non-/signal path refused", false, "upgrade accepted"); ws.close(); resolve(); });
    ws.on("unexpected-response", (_req, res) => { check("non-/signal path refused", true); res.destroy(); resolve(); });
    ws.on("error", () => resolve());
  });

  const connect = () => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/signal`);
    ws.inbox = new Inbox();
    ws.on("message", (data, isBinary) => {
      try { ws.inbox.push(isBinary ? { binary: true } : JSON.parse(data.toString())); }
      catch { ws.inbox.push({ unparsable: data.toString() }); }
    });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
  const send = (ws, event, data) => ws.send(JSON.stringify({ event, data }));

  const conns = [];
  try {
    const [a, b, c] = await withTimeout(Promise.all([connect(), connect(), connect()]), TIMEOUT_MS, "connect");
    conns.push(a, b, c);
    check("3 clients connect to /signal", true);

    send(a, "join", { room: "room-1", peerId: "alice" });
    send(b, "join", { room: "room-1", peerId: "bob" });
    send(c, "join", { room: "room-2", peerId: "carol" });
    const joined = await Promise.all([a.inbox.next("joined"), b.inbox.next("joined"), c.inbox.next("joined")]);
    check("join answered with joined {peerId}", isDeepStrictEqual(joined, [
      { event: "joined", data: { peerId: "alice" } },
      { event: "joined", data: { peerId: "bob" } },
      { event: "joined", data: { peerId: "carol" } },
    ]), JSON.stringify(joined));

    const offer = { targetPeerId: "bob", sdp: "v=0 fake-sdp", t: 1234567890123 };
    send(a, "offer", offer);
    const gotOffer = await b.inbox.next("offer at bob");
    check("offer relayed to the target with peerId set by the server",
      isDeepStrictEqual(gotOffer, { event: "offer", data: { ...offer, peerId: "alice" } }), JSON.stringify(gotOffer));

    // The server sets peerId even when the client tries to forge it.
    const answer = { targetPeerId: "alice", sdp: "answer", t: 7, peerId: "mallory" };
    send(b, "answer", answer);
    const gotAnswer = await a.inbox.next("answer at alice");
    check("answer relayed back, peerId overwritten with the sender's",
      isDeepStrictEqual(gotAnswer, { event: "answer", data: { ...answer, peerId: "bob" } }), JSON.stringify(gotAnswer));

    const cand = { targetPeerId: "bob", candidate: { candidate: "candidate:1 1 UDP 1 127.0.0.1 9 typ host" }, t: 8 };
    send(a, "candidate", cand);
    const gotCand = await b.inbox.next("candidate at bob");
    check("candidate relayed", isDeepStrictEqual(gotCand, { event: "candidate", data: { ...cand, peerId: "alice" } }),
      JSON.stringify(gotCand));

    send(a, "offer", { targetPeerId: "nobody", sdp: "x", t: 9 });
    const err = await a.inbox.next("error at alice");
    check("unknown target gets UNKNOWN_PEER", isDeepStrictEqual(err, { event: "error", data: { code: "UNKNOWN_PEER" } }),
      JSON.stringify(err));

    send(a, "offer", { targetPeerId: "carol", sdp: "x", t: 10 });
    const err2 = await a.inbox.next("error at alice");
    check("target in another room gets UNKNOWN_PEER",
      isDeepStrictEqual(err2, { event: "error", data: { code: "UNKNOWN_PEER" } }), JSON.stringify(err2));

    const rest = await Promise.all([a.inbox.quiet(), b.inbox.quiet(), c.inbox.quiet()]);
    check("nothing else delivered", rest.every((r) => r.length === 0), JSON.stringify(rest));
  } catch (e) {
    check("signal scenario ran to the end", false, String(e));
  } finally {
    for (const ws of conns) ws.close();
  }
}

if (kind === "socketio") await socketio();
else if (kind === "signal") await signal();
else { console.error("usage: node smoke-client.mjs socketio|signal PORT [LABEL]"); process.exit(2); }
process.exit(failures === 0 ? 0 : 1);
