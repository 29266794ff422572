// Unit tests of the pure logic: `node --test` (no component build needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addPoints, formatBoard, memberOf, pointsKey, rank } from './points.js';

test('keys round-trip', () => {
  assert.equal(memberOf(pointsKey('m-1')), 'm-1');
});

test('points never go below zero', () => {
  assert.equal(addPoints(1, -2), 0);
  assert.equal(addPoints(1, 2), 3);
});

test('rank sorts by points, then member, and drops zeros', () => {
  const ranked = rank([['b', 3], ['a', 3], ['c', 5], ['d', 0]], 2);
  assert.deepEqual(ranked, [['c', 5], ['a', 3]]);
  assert.equal(formatBoard(ranked), 'Leaderboard\n1. c: 5\n2. a: 3');
  assert.match(formatBoard([]), /No points yet/);
});
