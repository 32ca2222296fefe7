// Study-groups app: the OpenAPI document lists every route, with and without /api/v1, with its
// error responses. Contract: docs/study-groups.md "REST".
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { T, api, expectStatus, suite } from './study-groups-helpers.js';

// [method, path with {params}, documented statuses (success first, then errors)]
const ROUTES = [
  ['post', '/groups', [201, 400, 401]],
  ['get', '/groups', [200, 401]],
  ['get', '/groups/{groupId}', [200, 401, 403, 404]],
  ['post', '/groups/{groupId}/members', [201, 200, 400, 401, 403, 404, 409]],
  ['delete', '/groups/{groupId}/members/{userId}', [204, 401, 403, 404, 409]],
  ['post', '/groups/{groupId}/sessions', [201, 400, 401, 403, 404]],
  ['get', '/groups/{groupId}/sessions', [200, 401, 403, 404]],
  ['get', '/group-sessions/{sessionId}', [200, 401, 403, 404]],
  ['post', '/group-sessions/{sessionId}/join', [200, 400, 401, 403, 404]],
  ['put', '/group-sessions/{sessionId}/start', [200, 400, 401, 403, 404]],
  ['post', '/group-sessions/{sessionId}/rounds/{roundIndex}/advance', [200, 400, 401, 403, 404, 409]],
  ['patch', '/group-sessions/{sessionId}/rounds/{roundIndex}/prompt', [200, 400, 401, 403, 404]],
  ['put', '/group-sessions/{sessionId}/rounds/{roundIndex}/prompt', [200, 400, 401, 403, 404]],
  ['post', '/group-sessions/{sessionId}/events', [201, 400, 401, 403, 404, 409]],
  ['get', '/group-sessions/{sessionId}/events', [200, 401, 403, 404]],
  ['post', '/groups/{groupId}/sessions/{sessionId}/chat', [201, 400, 401, 403, 404]],
  ['get', '/groups/{groupId}/sessions/{sessionId}/chat', [200, 400, 401, 403, 404]],
  ['post', '/groups/sessions/{sessionId}/chat', [201, 400, 401, 403, 404]],
  ['get', '/groups/sessions/{sessionId}/chat', [200, 400, 401, 403, 404]],
  ['put', '/group-sessions/{sessionId}/status', [200, 400, 401, 403, 404]],
  ['post', '/group-sessions/{sessionId}/finish', [200, 400, 401, 403, 404]],
];

/** '/groups/{id}/x' → '/groups/{}/x', so parameter names do not matter. */
const shape = (p) => p.replace(/\{[^}]*\}/g, '{}');

suite('study-groups OpenAPI', () => {
  let doc;
  let byShape;
  before(async () => {
    const res = await api('GET', '/api/v1/openapi.json', { token: null });
    doc = expectStatus(res, 200, 'openapi.json');
    byShape = new Map(Object.entries(doc?.paths ?? {}).map(([p, item]) => [shape(p), { path: p, item }]));
  });

  test('GET /api/v1/openapi.json is an OpenAPI 3 document', { timeout: T }, async () => {
    assert.match(String(doc.openapi), /^3\./);
    assert.ok(doc.paths && typeof doc.paths === 'object');
  });

  for (const prefix of ['/api/v1', '']) {
    test(`every study-groups route ${prefix ? `under ${prefix}` : 'without the prefix'} is listed with its method`, { timeout: T }, async () => {
      const missing = [];
      for (const [method, path] of ROUTES) {
        const found = byShape.get(shape(prefix + path));
        if (!found || !found.item[method]) missing.push(`${method.toUpperCase()} ${prefix}${path}`);
      }
      assert.deepEqual(missing, [], 'routes missing from the OpenAPI document');
    });

    test(`every study-groups operation ${prefix ? `under ${prefix}` : 'without the prefix'} lists its success and error responses`, { timeout: T }, async () => {
      const problems = [];
      for (const [method, path, statuses] of ROUTES) {
        const op = byShape.get(shape(prefix + path))?.item?.[method];
        if (!op) continue; // reported by the test above
        const have = Object.keys(op.responses ?? {});
        const lacking = statuses.filter((s) => !have.includes(String(s)));
        if (lacking.length) problems.push(`${method.toUpperCase()} ${prefix}${path}: no ${lacking.join(', ')} (has ${have.join(', ') || 'none'})`);
      }
      assert.deepEqual(problems, [], 'responses missing from the OpenAPI document');
    });
  }

  test('the path parameters are declared', { timeout: T }, async () => {
    const problems = [];
    for (const [method, path] of ROUTES) {
      const found = byShape.get(shape(`/api/v1${path}`));
      const op = found?.item?.[method];
      if (!op) continue;
      const names = [...found.path.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]);
      const params = [...(found.item.parameters ?? []), ...(op.parameters ?? [])].filter((p) => p.in === 'path').map((p) => p.name);
      for (const n of names) if (!params.includes(n)) problems.push(`${method.toUpperCase()} ${found.path}: path parameter ${n}`);
    }
    assert.deepEqual(problems, []);
  });

  test('operations are marked as needing the bearer token', { timeout: T }, async () => {
    const problems = [];
    for (const [method, path] of ROUTES) {
      const op = byShape.get(shape(`/api/v1${path}`))?.item?.[method];
      if (!op) continue;
      const security = op.security ?? doc.security;
      if (!Array.isArray(security) || security.length === 0) problems.push(`${method.toUpperCase()} /api/v1${path}`);
    }
    assert.deepEqual(problems, [], 'operations without security requirements');
  });
});
