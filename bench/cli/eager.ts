// The CLI's start as it was before it loaded only what a command needs: every command module, the
// engine adapter and the parts of dockerode it no longer loads up front (ssh2, gRPC), imported
// before the CLI runs. `node --import` of this file is the "before" of `make bench-cli`.

import { createRequire } from 'node:module';

// What the commands load when they run: the build, the generators, deploy, jobs, the engine.
const MODULES = [
  '../../lib/build/index.js',
  '../../lib/build/builder-images.js',
  '../../lib/build/registry.js',
  '../../lib/generate/all.js',
  '../../lib/generate/init.js',
  '../../lib/deploy/deploy.js',
  '../../lib/job/local.js',
  '../../lib/job/status.js',
  '../../lib/engine/docker-engine.js',
];

await Promise.all(MODULES.map((m) => import(m)));
const fromDockerode = createRequire(createRequire(import.meta.url).resolve('dockerode'));
for (const id of ['ssh2', '@grpc/grpc-js', '@grpc/proto-loader']) fromDockerode(id);
