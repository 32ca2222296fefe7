import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get, connect, TEST_TIMEOUT } from './helpers.js';

test('GET /healthz answers 200', { timeout: TEST_TIMEOUT }, async () => {
  const res = await get('/healthz');
  assert.equal(res.status, 200);
  await res.arrayBuffer();
});

test('GET /metrics answers 200 text/plain in Prometheus format with roomwire_connections', { timeout: TEST_TIMEOUT }, async () => {
  // have at least one live connection while scraping
  const socket = await connect('/', { auth: { purpose: 'metrics' } });
  const res = await get('/metrics');
  assert.equal(res.status, 200);
  const type = res.headers.get('content-type') ?? '';
  assert.match(type, /^text\/plain/, `content-type was "${type}"`);
  const body = await res.text();
  assert.match(body, /^roomwire_connections/m, 'a line starting with roomwire_connections');
  // every non-comment, non-empty line is "name{labels} value [timestamp]"
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    assert.match(
      line,
      /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+]?([0-9.eE+-]+|NaN|[+-]?Inf)( -?\d+)?$/,
      `not a Prometheus sample line: ${JSON.stringify(line)}`,
    );
  }
  socket.disconnect();
});
