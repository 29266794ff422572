// `node --test`: tests the logic without building the component.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { greeting } from './logic.js';

test('greets by name', () => {
  assert.equal(greeting(['Plaza']), 'Hello, Plaza!');
  assert.equal(greeting([]), 'Hello!');
});
