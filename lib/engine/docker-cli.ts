// Runs the docker command line, for what the engine API does not do: `docker stack deploy` reads
// compose files and resolves them client-side, which only the CLI implements.

import { execFile } from 'node:child_process';
import { dockerCliMissing, dockerCommandFailed } from '../errors.js';

export type DockerCli = (args: string[]) => Promise<string>;

/** A docker runner with the environment `env` (the CLI's: DOCKER_HOST and the rest, as the user set them). */
export function dockerCli(env: NodeJS.ProcessEnv, signal: AbortSignal): DockerCli {
  return (args) =>
    new Promise((resolve, reject) => {
      execFile('docker', args, { env, signal, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const e = err as NodeJS.ErrnoException & { code?: number | string };
        if (e.code === 'ENOENT') return reject(dockerCliMissing(err));
        if (e.name === 'AbortError') return reject(err);
        reject(dockerCommandFailed(args, e.code ?? null, stderr));
      });
    });
}
