// Several namespaces over one Engine.IO connection: the Manager multiplexes
// `/`, `/custom` and `/lab` (and a dynamic namespace) on the same session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import {
  URL, manager, open, mintToken, waitFor, ack, record, until, trackSocket, TEST_TIMEOUT,
} from './helpers.js';

test('one Manager connects /lab, /custom and / over a single Engine.IO connection', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({ sub: 'u-mux', name: 'Mux' });
  const m = manager();
  const lab = m.socket('/lab', { auth: { token } });
  const custom = m.socket('/custom', { auth: { ns: 'custom' } });
  const root = m.socket('/', { auth: { ns: 'root' } });
  const customAuth = waitFor(custom, 'auth');
  const rootAuth = waitFor(root, 'auth');
  await Promise.all([open(lab), open(custom), open(root)]);

  assert.ok(lab.connected && custom.connected && root.connected);
  assert.equal(lab.io, m);
  assert.equal(custom.io, m);
  assert.equal(root.io, m);
  const engineId = m.engine.id;
  assert.equal(typeof engineId, 'string');
  assert.ok(engineId.length > 0);
  assert.deepEqual((await customAuth)[0], { ns: 'custom' });
  assert.deepEqual((await rootAuth)[0], { ns: 'root' });
  // each namespace has its own socket id, distinct from the Engine.IO id
  const ids = new Set([lab.id, custom.id, root.id, engineId]);
  assert.equal(ids.size, 4, 'namespace socket ids are distinct from each other and from the engine id');

  // each namespace serves its own events over the shared connection
  const [me] = await ack(lab, 'whoami');
  assert.equal(me.sid, lab.id);
  assert.equal(me.userId, 'u-mux');
  assert.deepEqual(await ack(root, 'message-with-ack', 'root'), ['root']);
  const back = waitFor(root, 'message-back');
  root.emit('message', 'to root');
  assert.deepEqual(await back, ['to root']);
  assert.equal(m.engine.id, engineId, 'still one Engine.IO connection');

  // disconnecting one namespace leaves the others connected on the same engine
  custom.disconnect();
  assert.deepEqual(await ack(lab, 'echo', 'after custom left'), ['after custom left']);
  assert.ok(root.connected);
  assert.equal(m.engine.id, engineId);
  lab.disconnect();
  root.disconnect();
});

test('default multiplexing: io(url + "/lab") and io(url + "/custom") share one Engine.IO connection', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({ sub: 'u-mux2', name: 'Mux Two' });
  // no forceNew: socket.io-client reuses its cached Manager for the same host
  const lab = trackSocket(io(`${URL}/lab`, { auth: { token }, reconnection: false, autoConnect: false }));
  const custom = trackSocket(io(`${URL}/custom`, { auth: { via: 'io()' }, reconnection: false, autoConnect: false }));
  const customAuth = waitFor(custom, 'auth');
  await Promise.all([open(lab), open(custom)]);
  assert.equal(lab.io, custom.io, 'the same Manager');
  assert.equal(lab.io.engine.id, custom.io.engine.id);
  assert.deepEqual((await customAuth)[0], { via: 'io()' });
  const [me] = await ack(lab, 'whoami');
  assert.equal(me.userId, 'u-mux2');
  lab.disconnect();
  custom.disconnect();
});

test('a message on one namespace is not delivered to another namespace of the same connection', { timeout: TEST_TIMEOUT }, async () => {
  const token = await mintToken({ sub: 'u-mux3', name: 'Mux Three' });
  const m = manager();
  const lab = m.socket('/lab', { auth: { token } });
  const root = m.socket('/');
  await Promise.all([open(lab), open(root)]);
  const rootBacks = record(root, 'lab-only');
  const labBacks = record(lab, 'lab-only');
  lab.emit('emit-back', 'lab-only', 1);
  await until(() => labBacks.length >= 1, 'the lab emit-back');
  // sentinel on / after the lab event
  assert.deepEqual(await ack(root, 'message-with-ack', 'sentinel'), ['sentinel']);
  assert.deepEqual(rootBacks, []);
  assert.deepEqual(labBacks, [[1]]);
  lab.disconnect();
  root.disconnect();
});

test('a dynamic namespace can join an existing multiplexed connection', { timeout: TEST_TIMEOUT }, async () => {
  const m = manager();
  const root = m.socket('/');
  await open(root);
  const dyn = m.socket('/dyn-mux1');
  const hello = waitFor(dyn, 'hello');
  await open(dyn);
  assert.deepEqual((await hello)[0], { nsp: '/dyn-mux1' });
  assert.equal(dyn.io.engine.id, root.io.engine.id);
  dyn.disconnect();
  root.disconnect();
});
