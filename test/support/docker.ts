// What the integration tests ask of the engine that cortex-s2i itself never does (whether one
// answers, stopping a container as `docker stop` does, listing what a test left behind), through
// the docker command line and the same engine (DOCKER_HOST as the tests run with it).

import { execFile } from 'node:child_process';

function docker(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('docker', args, { env: process.env }, (err, stdout, stderr) =>
      err ? reject(new Error(`docker ${args.join(' ')}: ${stderr.trim() || err.message}`)) : resolve(stdout),
    );
  });
}

/** The engine's API version; rejects when no engine answers. */
export async function engineApiVersion(): Promise<string> {
  return (await docker(['version', '--format', '{{.Server.APIVersion}}'])).trim();
}

/** Stops the container as `docker stop -t <grace>` does: SIGTERM, then SIGKILL after the grace time. */
export async function stopContainer(id: string, graceSeconds: number): Promise<void> {
  await docker(['stop', '-t', String(graceSeconds), id]);
}

/** Ids of the containers, in any state, that carry `label` (key or key=value). */
export async function containersLabelled(label: string): Promise<string[]> {
  return (await docker(['ps', '-aq', '--no-trunc', '--filter', `label=${label}`])).split('\n').filter(Boolean);
}
