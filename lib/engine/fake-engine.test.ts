import { engineContract } from '../../test/support/engine-contract.js';
import { FakeEngine } from './fake-engine.js';

describe('FakeEngine honours the engine contract', () => {
  engineContract(() => new FakeEngine(['base:1']), {
    base: 'base:1',
    prefix: 'cortex-s2i-test',
    registry: 'registry.test:5000',
  });
});
