import { dockerEngine } from '../../lib/engine/docker-engine.js';
import { packageVersion } from '../../lib/package-root.js';
import { engineContract } from '../support/engine-contract.js';
import { PREFIX, realEngine } from './support.js';

describe('the Docker engine adapter honours the engine contract', function () {
  this.timeout(120_000);
  before(async function () {
    await realEngine(this);
  });
  engineContract(() => dockerEngine(process.env.DOCKER_HOST), `cortex-s2i/builder-train:${packageVersion()}`, PREFIX);
});
