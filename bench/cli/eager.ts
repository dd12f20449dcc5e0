// The CLI's start as it was before it loaded only what a command needs: every command module, the
// engine adapter and the parts of dockerode it no longer loads up front (ssh2, gRPC), imported
// before the CLI runs. `node --import` of this file is the "before" of `make bench-cli`.

import { createRequire } from 'node:module';

const COMMANDS = ['build', 'builders', 'all', 'init', 'push', 'job', 'deploy'];

await Promise.all([
  ...COMMANDS.map((c) => import(`../../lib/cli/commands/${c}.js`)),
  import('../../lib/engine/docker-engine.js'),
]);
const fromDockerode = createRequire(createRequire(import.meta.url).resolve('dockerode'));
for (const id of ['ssh2', '@grpc/grpc-js', '@grpc/proto-loader']) fromDockerode(id);
