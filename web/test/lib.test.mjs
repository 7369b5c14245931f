// The dashboard's pure helpers: merge patches as the live feed applies them, and figures.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mergePatch } from '../src/lib/merge.js';
import { bytes, duration, ms, percent } from '../src/lib/format.js';

describe('mergePatch', () => {
  test('follows the examples of RFC 7386', () => {
    const cases = [
      [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
      [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
      [{ a: 'b' }, { a: null }, {}],
      [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
      [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
      [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
      [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
      [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
      [['a', 'b'], ['c', 'd'], ['c', 'd']],
      [{ a: 'b' }, ['c'], ['c']],
      [{ a: 'foo' }, null, null],
      [{ a: 'foo' }, 'bar', 'bar'],
      [{ e: null }, { a: 1 }, { e: null, a: 1 }],
      [[1, 2], { a: 'b', c: null }, { a: 'b' }],
      [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    ];
    for (const [target, patch, want] of cases) {
      assert.deepEqual(mergePatch(target, patch), want, `${JSON.stringify(target)} + ${JSON.stringify(patch)}`);
    }
  });

  test('leaves the target unchanged and keeps the identity of the parts it does not touch', () => {
    const target = { monitors: { a: { status: 'up' }, b: { status: 'up' } }, hosts: { h: { cpu: 1 } } };
    const frozen = JSON.stringify(target);
    const out = mergePatch(target, { monitors: { a: { status: 'down' } } });
    assert.equal(JSON.stringify(target), frozen, 'the target is not modified');
    assert.equal(out.monitors.a.status, 'down');
    assert.equal(out.monitors.b, target.monitors.b, 'an untouched monitor is the same object');
    assert.equal(out.hosts, target.hosts, 'an untouched branch is the same object');
    assert.notEqual(out.monitors, target.monitors, 'the changed path is a copy');
  });
});

describe('format', () => {
  test('duration names the two largest units and drops a zero remainder', () => {
    assert.deepEqual([0, 59, 60, 3600, 3660, 86400, 90000, 200000].map(duration), [
      '0 s', '59 s', '1 min', '1 h', '1 h 1 min', '1 d', '1 d 1 h', '2 d 7 h',
    ]);
    assert.equal(duration(null), '—');
  });

  test('milliseconds, percentages and bytes read as a person writes them', () => {
    assert.deepEqual([3.25, 35, 350, 1200, 12000].map(ms), ['3.3 ms', '35 ms', '350 ms', '1.2 s', '12 s']);
    assert.equal(percent(0.9995, true, 2), '99.95 %');
    assert.equal(percent(100), '100 %');
    assert.deepEqual([320, 1536, 5 * 2 ** 30].map(bytes), ['320 B', '1.5 KiB', '5.0 GiB']);
    assert.equal(ms(undefined), '—');
  });
});
