// Binary both ways on /lab: Buffers / ArrayBuffers / typed arrays nested in
// objects and arrays survive `echo` (acks) and `emit-back` (events) as binary
// in the same positions; several attachments keep their order.
import { test } from 'node:test';
import {
  labClient, ack, waitFor, assertDeepBinary, assertBytes, TEST_TIMEOUT,
} from './helpers.js';

const bytes = (...xs) => Buffer.from(xs);

function nestedPayload() {
  return [
    'text first',
    { file: bytes(1, 2, 3), meta: { name: 'a.bin', size: 3 } },
    [bytes(0xff, 0x00, 0xfe), 'between', { deeper: [bytes(7)] }],
    bytes(0xde, 0xad, 0xbe, 0xef),
    42,
  ];
}

for (const transports of [['websocket'], ['polling']]) {
  const label = transports[0];

  test(`echo (${label}) returns Buffers nested in objects and arrays as binary in the same positions`, { timeout: TEST_TIMEOUT }, async () => {
    const socket = await labClient({ sub: `u-bin-echo-${label}`, opts: { transports } });
    const args = nestedPayload();
    const res = await ack(socket, 'echo', ...args);
    assertDeepBinary(res, args, 'ack');
    socket.disconnect();
  });

  test(`emit-back (${label}) emits the event with binary preserved`, { timeout: TEST_TIMEOUT }, async () => {
    const socket = await labClient({ sub: `u-bin-back-${label}`, opts: { transports } });
    const args = nestedPayload();
    const back = waitFor(socket, 'bin-event');
    socket.emit('emit-back', 'bin-event', ...args);
    assertDeepBinary(await back, args, 'bin-event');
    socket.disconnect();
  });
}

test('several attachments keep their order', { timeout: TEST_TIMEOUT }, async () => {
  const socket = await labClient({ sub: 'u-bin-order' });
  // 10 attachments: the most the reference Socket.IO parser accepts by default (maxAttachments)
  const parts = Array.from({ length: 10 }, (_, i) => Buffer.alloc(i + 1, i));
  const args = [parts[0], 'x', parts[1], { a: parts[2], b: [parts[3], parts[4]] }, [[parts[5]], { c: parts[6] }], ...parts.slice(7)];
  assertDeepBinary(await ack(socket, 'echo', ...args), args, 'echo');
  const back = waitFor(socket, 'ordered');
  socket.emit('emit-back', 'ordered', ...args);
  assertDeepBinary(await back, args, 'emit-back');
  socket.disconnect();
});

test('ArrayBuffer and typed arrays come back as binary with the same bytes', { timeout: TEST_TIMEOUT }, async () => {
  const socket = await labClient({ sub: 'u-bin-types' });
  const ab = new Uint8Array([9, 8, 7]).buffer;
  const u8 = new Uint8Array([1, 2, 3, 4]);
  const view = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]).subarray(2, 5); // offset view: [2, 3, 4]
  const res = await ack(socket, 'echo', ab, { u8 }, [view]);
  assertBytes(res[0], bytes(9, 8, 7), 'ArrayBuffer');
  assertBytes(res[1].u8, bytes(1, 2, 3, 4), 'Uint8Array');
  assertBytes(res[2][0], bytes(2, 3, 4), 'subarray view');
  socket.disconnect();
});

test('an empty buffer and a 64 KiB buffer round-trip', { timeout: TEST_TIMEOUT }, async () => {
  const socket = await labClient({ sub: 'u-bin-sizes' });
  const big = Buffer.alloc(64 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  const res = await ack(socket, 'echo', Buffer.alloc(0), { big });
  assertBytes(res[0], Buffer.alloc(0), 'empty');
  assertBytes(res[1].big, big, 'big');
  socket.disconnect();
});
