// Conference app: raised hands, reactions, screen share (both vocabularies and the
// request/approve flow), annotations. Contract: docs/conference.md "Everyone".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EMOJIS,
  T,
  assertError,
  assertObject,
  assertNone,
  ids,
  join,
  joinAll,
  participant,
  roomId,
  roomState,
  settle,
  suite,
  trio,
} from './conference-helpers.js';

suite('conference: raised hands', () => {
  test('raise-hand {} → raise-hand {peerId, username} to everyone (sender included); kept in state', { timeout: T }, async () => {
    const { room, h, p, o } = await trio('raise');
    p.send('raise-hand', {});
    for (const c of [h, p, o]) assert.deepEqual(await c.data('raise-hand'), { peerId: p.id, username: 'Pia' });
    const n = await join(room, { label: 'Newcomer' });
    assert.deepEqual(n.peers.raisedHands, [{ peerId: p.id, username: 'Pia' }]);
    assert.equal(participant(await roomState(room), p.id).handRaised, true);
  });

  test('raise-hand: a claimed peerId is ignored (the sender\'s hand goes up)', { timeout: T }, async () => {
    const { h, p, o } = await trio('raise');
    p.send('raise-hand', { peerId: o.id, username: 'Oli' });
    assert.deepEqual(await h.data('raise-hand'), { peerId: p.id, username: 'Pia' });
  });

  test('lower-hand {} → lower-hand {peerId} to everyone; removed from state', { timeout: T }, async () => {
    const { room, h, p, o } = await trio('lower');
    p.send('raise-hand', {});
    await h.data('raise-hand');
    p.send('lower-hand', {});
    for (const c of [h, p, o]) assert.deepEqual(await c.data('lower-hand'), { peerId: p.id });
    const n = await join(room, { label: 'Newcomer' });
    assert.deepEqual(n.peers.raisedHands, []);
    assert.equal(participant(await roomState(room), p.id).handRaised, false);
  });

  test('lower-hand {peerId} from the host lowers another\'s hand', { timeout: T }, async () => {
    const { room, h, p, o } = await trio('lower');
    p.send('raise-hand', {});
    await o.data('raise-hand');
    h.send('lower-hand', { peerId: p.id });
    for (const c of [h, p, o]) assert.deepEqual(await c.data('lower-hand'), { peerId: p.id });
    assert.equal(participant(await roomState(room), p.id).handRaised, false);
  });

  test('a raised hand is lowered (lower-hand before peer-left) when its peer leaves', { timeout: T }, async () => {
    const { room, h, p, o } = await trio('handleave');
    p.send('raise-hand', {});
    await h.data('raise-hand');
    await o.data('raise-hand');
    await p.close(1000);
    for (const c of [h, o]) {
      const lower = await c.take('lower-hand', (d) => d.peerId === p.id);
      const left = await c.take('peer-left', (d) => d.peerId === p.id);
      assert.ok(c.messages.indexOf(lower) < c.messages.indexOf(left), `${c.label}: lower-hand comes before peer-left`);
    }
    const n = await join(room, { label: 'Newcomer' });
    assert.deepEqual(n.peers.raisedHands, []);
  });
});

suite('conference: reactions', () => {
  test('reaction {emoji} with each of the six emoji → everyone else gets reaction {peerId, emoji}', { timeout: T }, async () => {
    const { h, p, o } = await trio('react');
    const mp = p.mark();
    for (const emoji of EMOJIS) p.send('reaction', { emoji });
    for (const c of [h, o]) {
      for (const emoji of EMOJIS) assert.deepEqual(await c.data('reaction', (d) => d.emoji === emoji), { peerId: p.id, emoji });
    }
    await settle(p);
    assertNone(p, mp, ['reaction', 'error'], 'the sender gets no echo and no error');
  });

  for (const [what, data] of [
    ['an emoji not in the list (💩)', { emoji: '💩' }],
    ['text', { emoji: 'thumbs up' }],
    ['an empty emoji', { emoji: '' }],
    ['two emoji', { emoji: '👍👍' }],
  ]) {
    test(`INVALID_REACTION: ${what}; nobody gets it`, { timeout: T }, async () => {
      const { h, p } = await trio('badreact');
      const mh = h.mark();
      p.send('reaction', data);
      assertError(await p.error('INVALID_REACTION'), 'INVALID_REACTION');
      await settle(p, h);
      assertNone(h, mh, 'reaction');
      assert.ok(p.isOpen);
    });
  }

  // Reading: a reaction without `emoji` is "anything else" (INVALID_REACTION) or a
  // malformed event (INVALID_MESSAGE); the contract allows both readings, so either passes.
  for (const [what, data] of [
    ['without emoji', {}],
    ['with a number as emoji', { emoji: 1 }],
  ]) {
    test(`reaction ${what} → INVALID_REACTION or INVALID_MESSAGE; nobody gets it`, { timeout: T }, async () => {
      const { h, p } = await trio('badreact');
      const mh = h.mark();
      p.send('reaction', data);
      const err = await p.take('error');
      assert.ok(['INVALID_REACTION', 'INVALID_MESSAGE'].includes(err.data.code), JSON.stringify(err.data));
      await settle(p, h);
      assertNone(h, mh, 'reaction');
      assert.ok(p.isOpen);
    });
  }
});

suite('conference: screen share', () => {
  for (const [start, stop] of [
    ['screen-share-start', 'screen-share-stop'],
    ['screen-share-started', 'screen-share-stopped'],
  ]) {
    test(`${start} → everyone else gets ${start} {peerId}; tracked in screenSharers`, { timeout: T }, async () => {
      const { room, h, p, o } = await trio('share');
      const mp = p.mark();
      p.send(start, { peerId: o.id }); // a claimed peerId is overwritten
      for (const c of [h, o]) assert.equal((await c.data(start)).peerId, p.id);
      await settle(p);
      assertNone(p, mp, start, 'not echoed to the sender');
      const n = await join(room, { label: 'Newcomer' });
      assert.deepEqual(ids(n.peers.screenSharers), [p.id]);
    });

    test(`${stop} → everyone else gets ${stop} {peerId}; removed from screenSharers`, { timeout: T }, async () => {
      const { room, h, p, o } = await trio('share');
      p.send(start, {});
      await h.data(start);
      const mp = p.mark();
      p.send(stop, {});
      for (const c of [h, o]) assert.equal((await c.data(stop)).peerId, p.id);
      await settle(p);
      assertNone(p, mp, stop, 'not echoed to the sender');
      const n = await join(room, { label: 'Newcomer' });
      assert.deepEqual(n.peers.screenSharers, []);
    });
  }

  test('a sharer who leaves: others get screen-share-stopped {peerId} (and peer-left)', { timeout: T }, async () => {
    const { room, h, p, o } = await trio('shareleave');
    p.send('screen-share-start', {});
    await h.data('screen-share-start');
    await o.data('screen-share-start');
    await p.close(1000);
    for (const c of [h, o]) {
      assert.equal((await c.data('screen-share-stopped', (d) => d.peerId === p.id)).peerId, p.id);
      await c.data('peer-left', (d) => d.peerId === p.id);
    }
    const n = await join(room, { label: 'Newcomer' });
    assert.deepEqual(n.peers.screenSharers, []);
  });

  test('request-screen-share {} → host and co-hosts get request-screen-share {peerId, username}; others do not', { timeout: T }, async () => {
    const room = roomId('reqshare');
    const [h, co, p, o] = await joinAll(room, ['Host', 'Co', 'Pia', 'Oli']);
    h.send('promote-co-host', { targetPeerId: co.id });
    await o.data('promote-co-host');
    await settle(p);
    const mo = o.mark();
    const mp = p.mark();
    p.send('request-screen-share', {});
    for (const c of [h, co]) assert.deepEqual(await c.data('request-screen-share'), { peerId: p.id, username: 'Pia' });
    await settle(p, o);
    assertNone(o, mo, 'request-screen-share', 'a plain participant is not asked');
    assertNone(p, mp, ['request-screen-share', 'error']);
  });

  test('approve-screen-share {peerId} (host) → the requester gets screen-share-approved {}', { timeout: T }, async () => {
    const { h, p, o } = await trio('approve');
    p.send('request-screen-share', {});
    await h.data('request-screen-share');
    const mo = o.mark();
    h.send('approve-screen-share', { peerId: p.id });
    assertObject(await p.data('screen-share-approved'), 'screen-share-approved');
    await settle(h, o);
    assertNone(o, mo, ['screen-share-approved', 'screen-share-denied'], 'only the requester is told');
  });

  test('deny-screen-share {peerId} (host) → the requester gets screen-share-denied {}', { timeout: T }, async () => {
    const { h, p, o } = await trio('deny');
    p.send('request-screen-share', {});
    await h.data('request-screen-share');
    const mo = o.mark();
    h.send('deny-screen-share', { peerId: p.id });
    assertObject(await p.data('screen-share-denied'), 'screen-share-denied');
    await settle(h, o);
    assertNone(o, mo, ['screen-share-approved', 'screen-share-denied'], 'only the requester is told');
  });

  test('revoke-screen-share {peerId} (host) → screen-share-stopped {peerId} to the room; removed from screenSharers', { timeout: T }, async () => {
    const { room, h, p, o } = await trio('revoke');
    p.send('screen-share-started', {});
    await h.data('screen-share-started');
    await o.data('screen-share-started');
    h.send('revoke-screen-share', { peerId: p.id });
    for (const c of [h, p, o]) assert.equal((await c.data('screen-share-stopped', (d) => d.peerId === p.id)).peerId, p.id);
    const n = await join(room, { label: 'Newcomer' });
    assert.deepEqual(n.peers.screenSharers, []);
  });
});

suite('conference: annotations', () => {
  test('annotation-draw {...} → everyone else, with the data and the sender\'s peerId', { timeout: T }, async () => {
    const { h, p, o } = await trio('draw');
    const stroke = { tool: 'pen', color: '#ff0000', width: 3, points: [[0, 0], [10.5, 20], [30, 40]] };
    const mp = p.mark();
    p.send('annotation-draw', { ...stroke, peerId: o.id });
    for (const c of [h, o]) {
      const d = await c.data('annotation-draw');
      assert.equal(d.peerId, p.id);
      for (const [k, v] of Object.entries(stroke)) assert.deepEqual(d[k], v, `annotation-draw.${k} relayed`);
    }
    await settle(p);
    assertNone(p, mp, ['annotation-draw', 'error'], 'not echoed to the sender');
  });

  test('annotation-clear {} → everyone, sender included', { timeout: T }, async () => {
    const { h, p, o } = await trio('clear');
    p.send('annotation-clear', {});
    for (const c of [h, p, o]) {
      const d = await c.data('annotation-clear');
      assert.ok(d === undefined || (typeof d === 'object' && d !== null), 'annotation-clear data is an object');
    }
  });
});
