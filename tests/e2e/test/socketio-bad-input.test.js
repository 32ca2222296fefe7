// Bad input does not hurt others: while client A is connected and echoing,
// client B speaks garbage over a raw WebSocket to the Engine.IO endpoint and
// gets closed; A keeps working and new clients can still connect.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  connect, openWs, waitClose, until, ack, mintToken, TEST_TIMEOUT, URL,
} from './helpers.js';

const EIO_WS = '/socket.io/?EIO=4&transport=websocket';

let a;
let rounds = 0;

before(async () => {
  const token = await mintToken({ sub: 'u-bystander', name: 'Bystander' });
  a = await connect('/lab', { auth: { token }, transports: ['websocket'] });
});

after(() => a?.disconnect());

async function assertAStillEchoes() {
  rounds += 1;
  assert.ok(a.connected, 'A is still connected');
  assert.deepEqual(await ack(a, 'echo', 'still here', rounds), ['still here', rounds]);
}

/** Open a raw Engine.IO websocket and wait for the open packet ("0{...sid...}"). */
async function rawEngine() {
  const b = await openWs(EIO_WS);
  await until(() => b.inbox.length >= 1, 'the Engine.IO open packet');
  const first = b.inbox[0];
  assert.equal(first.isBinary, false);
  const text = first.data.toString();
  assert.equal(text[0], '0', `first packet is an Engine.IO open packet, got ${JSON.stringify(text)}`);
  const handshake = JSON.parse(text.slice(1));
  assert.equal(typeof handshake.sid, 'string');
  return b;
}

/** Connect B to namespace / over the raw websocket (Socket.IO CONNECT "40"). */
async function rawConnected() {
  const b = await rawEngine();
  b.send('40');
  await until(() => b.inbox.some((m) => m.data.toString().startsWith('40')), 'the Socket.IO CONNECT reply');
  return b;
}

const cases = [
  ['a message packet with an invalid Socket.IO packet type ("4abc")', rawEngine, (b) => b.send('4abc')],
  ['non-UTF-8 bytes as a binary frame before any connect', rawEngine, (b) => b.send(Buffer.from([0xff, 0xfe, 0xfd, 0x00, 0xc3]), { binary: true })],
  ['non-UTF-8 bytes in a text frame', rawEngine, (b) => b.send(Buffer.from([0x34, 0x32, 0xff, 0xfe, 0xc3, 0x28]), { binary: false })],
  ['a 2 MB message', rawConnected, (b) => b.send(`42["message","${'x'.repeat(2 * 1024 * 1024)}"]`)],
  ['a truncated event packet ("42[") after connecting', rawConnected, (b) => b.send('42[')],
  ['an unknown Engine.IO packet type ("9hello")', rawEngine, (b) => b.send('9hello')],
  ['an empty text frame', rawEngine, (b) => b.send('')],
  ['a mistyped event (name is a number: 42[1])', rawConnected, (b) => b.send('42[1]')],
  ['an event whose payload is an object (42{})', rawConnected, (b) => b.send('42{"a":1}')],
  ['more binary attachments than allowed (45 announced)', rawConnected, (b) => b.send('445-["x"]')],
  ['a text packet where a binary attachment is due', rawConnected, (b) => {
    b.send('451-["x",{"_placeholder":true,"num":0}]');
    b.send('42["x"]');
  }],
  ['a binary frame that no packet announced', rawConnected, (b) => b.send(Buffer.from([1, 2, 3]), { binary: true })],
  ['an ack id too long to be a number', rawConnected, (b) => b.send('4212345678901234567890["x"]')],
];

for (const [what, setup, misbehave] of cases) {
  test(`B sending ${what} is closed while A keeps echoing`, { timeout: TEST_TIMEOUT }, async () => {
    await assertAStillEchoes();
    const b = await setup();
    misbehave(b);
    const { code } = await waitClose(b, 5000);
    assert.ok(Number.isInteger(code), `B was closed (code ${code})`);
    await assertAStillEchoes();
  });
}

test('after all that garbage a new client still connects and works', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({ sub: 'u-newcomer', name: 'Newcomer' });
  const c = await connect('/lab', { auth: { token } });
  const [me] = await ack(c, 'whoami');
  assert.equal(me.userId, 'u-newcomer');
  await assertAStillEchoes();
  c.disconnect();
});

test('B flooding 5000 events over one connection is closed (1008) and does not stop A', { timeout: TEST_TIMEOUT }, async () => {
  await assertAStillEchoes();
  const b = await rawConnected();
  for (let i = 0; i < 5000; i += 1) b.send(`42["no-such-event",${i}]`);
  const { code } = await waitClose(b, 5000);
  assert.equal(code, 1008, 'socketio.messages_per_second: a flood closes');
  await assertAStillEchoes();
});

/** Opens a long-polling Engine.IO session with plain HTTP, returns its sid. */
async function pollingSid() {
  const res = await fetch(`${URL}/socket.io/?EIO=4&transport=polling`);
  assert.equal(res.status, 200);
  const body = await res.text();
  return JSON.parse(body.slice(1)).sid;
}

async function post(sid, body) {
  return fetch(`${URL}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body });
}

const pollingCases = [
  ['an unknown packet type', 'x1', 400],
  ['bytes that are not UTF-8', Buffer.from([0x34, 0xff, 0xfe]), 400],
  ['invalid base64 in a binary packet', 'b!!!', 400],
  ['a body over maxPayload', '4' + 'x'.repeat(1_100_000), 413],
];

for (const [what, body, status] of pollingCases) {
  test(`a polling POST with ${what} gets ${status} and ends only that session`, { timeout: TEST_TIMEOUT }, async () => {
    await assertAStillEchoes();
    const sid = await pollingSid();
    const res = await post(sid, body);
    assert.equal(res.status, status);
    await until(async () => {
      const r = await fetch(`${URL}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
      return r.status === 400;
    }, 'the session to be gone');
    await assertAStillEchoes();
  });
}

test('requests with a missing or bad EIO, transport or sid get 400', { timeout: TEST_TIMEOUT }, async () => {
  for (const q of ['', 'EIO=3&transport=polling', 'EIO=4&transport=carrier-pigeon', 'EIO=4&transport=polling&sid=nope']) {
    const res = await fetch(`${URL}/socket.io/?${q}`);
    assert.equal(res.status, 400, q);
  }
  const res = await fetch(`${URL}/socket.io/?EIO=4&transport=polling`, { method: 'POST', body: '4x' });
  assert.equal(res.status, 400, 'POST without sid');
  await assertAStillEchoes();
});
