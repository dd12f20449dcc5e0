import { dockerEngine } from '../../lib/engine/docker-engine.js';
import { packageVersion } from '../../lib/package-root.js';
import { bundledBuilderImage } from '../../lib/plan/builders.js';
import { engineContract } from '../support/engine-contract.js';
import { PREFIX, realEngine } from './support.js';

describe('the Docker engine adapter honours the engine contract', function () {
  this.timeout(120_000);
  before(async function () {
    await realEngine(this);
  });
  engineContract(() => dockerEngine(process.env.DOCKER_HOST), {
    base: bundledBuilderImage('train', packageVersion(), process.env.CORTEX_S2I_BUILDER_REPO || undefined),
    prefix: PREFIX,
    // The registry without credentials that `make registry` starts (scripts/registry.sh).
    registry: '127.0.0.1:5301',
  });
});
