import { engineContract } from '../../test/support/engine-contract.js';
import { FakeEngine } from './fake-engine.js';

describe('FakeEngine honours the engine contract', () => {
  engineContract(() => new FakeEngine(['base:1']), 'base:1', 'cortex-s2i-test');
});
