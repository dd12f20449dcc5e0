// The one user-facing error type: a message, a hint saying what to do, and the exit status.
// Only lib/cli/main.ts catches and prints these; everything else throws them through named
// factories so that the same failure always reads the same way.

import type { Problem } from './config/result.js';

export const ExitCode = {
  ok: 0,
  internal: 1,
  badInput: 2,
  buildFailed: 3,
  engineUnreachable: 4,
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class CortexError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: ExitCode;
  /** Evidence a user needs to act: problems with file and line, or the last lines of a log. */
  readonly details: string[];

  constructor(message: string, opts: { hint?: string; exitCode: ExitCode; details?: string[]; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CortexError';
    this.hint = opts.hint;
    this.exitCode = opts.exitCode;
    this.details = opts.details ?? [];
  }
}

/** The same error without its evidence lines, for when the user has just seen them. */
CortexError.prototype.withoutDetails = function withoutDetails(this: CortexError): CortexError {
  return new CortexError(this.message, { exitCode: this.exitCode, ...(this.hint ? { hint: this.hint } : {}), cause: this });
};
declare module './errors.js' {
  interface CortexError {
    withoutDetails(): CortexError;
  }
}

export function formatProblem(p: Problem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}`;
  return p.hint ? `${where}: ${p.message} (hint: ${p.hint})` : `${where}: ${p.message}`;
}

export function usageError(message: string, hint = "run 'cortex-s2i --help' for usage"): CortexError {
  return new CortexError(message, { hint, exitCode: ExitCode.badInput });
}

export function invalidProject(problems: Problem[]): CortexError {
  const n = problems.length;
  return new CortexError(`the project has ${n} problem${n === 1 ? '' : 's'}; nothing was built`, {
    exitCode: ExitCode.badInput,
    details: problems.map(formatProblem),
    hint: 'fix the lines above and run the command again',
  });
}

export function sourceNotFound(dir: string): CortexError {
  return new CortexError(`source directory ${dir} does not exist or is not a directory`, {
    exitCode: ExitCode.badInput,
    hint: 'pass the model directory, e.g. cortex-s2i build ./logisticRegression daemon my-model-predict',
  });
}

export function unknownBuilder(name: string): CortexError {
  return new CortexError(`builder image ${name} is not on the engine`, {
    exitCode: ExitCode.badInput,
    hint: "build the bundled builders with 'cortex-s2i builders' (or 'make builders'), or check the image name",
  });
}

export function baseImageMissing(candidates: string[]): CortexError {
  return new CortexError(`no Python base image for the builders: none of ${candidates.join(', ')} is on the engine`, {
    exitCode: ExitCode.badInput,
    hint: "run 'make base' (pulls python:3.11-slim, or bootstraps a Debian base offline), or pass --base IMAGE",
  });
}

export function engineUnreachable(where: string, cause: unknown): CortexError {
  return new CortexError(`no Docker engine answers at ${where}`, {
    exitCode: ExitCode.engineUnreachable,
    cause,
    hint: "start Docker ('make engine' does it on Debian as root), or set DOCKER_HOST to a running engine",
  });
}

export function buildFailed(image: string, reason: string, lastLines: string[]): CortexError {
  return new CortexError(`building ${image} failed: ${reason}`, {
    exitCode: ExitCode.buildFailed,
    details: lastLines,
    hint: 'the lines above are the end of the build log; nothing was tagged',
  });
}

/** A build that failed for reasons that each have a file and line: a missing import, say. */
export function buildFailedProblems(image: string, reason: string, problems: Problem[]): CortexError {
  return new CortexError(`building ${image} failed: ${reason}; nothing was tagged`, {
    exitCode: ExitCode.buildFailed,
    details: problems.map(formatProblem),
    hint: 'fix the lines above and build again',
  });
}

export function contextUnreadable(image: string, cause: Error): CortexError {
  return new CortexError(`building ${image} failed: ${cause.message}`, {
    exitCode: ExitCode.buildFailed,
    cause,
    hint: 'run the build again once the files stop changing; nothing was tagged',
  });
}

export function interrupted(): CortexError {
  return new CortexError('interrupted; nothing was tagged', { exitCode: ExitCode.interrupted });
}

export function noCortexYaml(dir: string): CortexError {
  return new CortexError(`${dir} has no cortex.yaml`, {
    exitCode: ExitCode.badInput,
    hint: 'deploy takes a Cortex project: a folder whose cortex.yaml lists the APIs',
  });
}

export function dockerCommandFailed(args: string[], code: number | string | null, stderr: string): CortexError {
  return new CortexError(`docker ${args.slice(0, 2).join(' ')} failed (exit ${code ?? 'signal'})`, {
    exitCode: ExitCode.buildFailed,
    details: stderr.trim().split('\n').slice(-10),
    hint: 'the lines above are what the docker command said',
  });
}

export function dockerCliMissing(cause: unknown): CortexError {
  return new CortexError('the docker command is not installed', {
    exitCode: ExitCode.engineUnreachable,
    cause,
    hint: 'deploying to Swarm runs docker stack deploy: install the Docker CLI, or use --out to write the stack file',
  });
}

export function swarmInactive(state: string): CortexError {
  return new CortexError(`the engine is not part of a swarm (state: ${state || 'unknown'})`, {
    exitCode: ExitCode.badInput,
    hint: "run 'docker swarm init' (or join a swarm), or use --out to write the stack file",
  });
}

export function deployNotReady(stack: string, seconds: number, states: string[]): CortexError {
  return new CortexError(`stack ${stack} was deployed but not every replica was ready within ${seconds}s`, {
    exitCode: ExitCode.buildFailed,
    details: states,
    hint: `look at 'docker service ps ${stack}_<api> --no-trunc' and the logs of the failing tasks; --timeout waits longer`,
  });
}

export function stackNotOurs(stack: string, services: string[]): CortexError {
  return new CortexError(`stack ${stack} has services cortex-s2i did not deploy: ${services.join(', ')}`, {
    exitCode: ExitCode.badInput,
    hint: 'nothing was removed; remove the stack yourself with docker stack rm if you mean to',
  });
}

export function deployInterrupted(stack: string): CortexError {
  return new CortexError(`interrupted while waiting for stack ${stack}; what was deployed stays deployed`, {
    exitCode: ExitCode.interrupted,
    hint: `run the command again to wait for it, or remove it with --delete`,
  });
}

export function tooFewNodes(api: string, replicas: number, nodes: number): CortexError {
  return new CortexError(`API ${api} asks for ${replicas} replicas, but with --host-ports each of the swarm's ${nodes} ready node${nodes === 1 ? '' : 's'} runs at most one`, {
    exitCode: ExitCode.badInput,
    hint: 'lower init_replicas (and min_replicas) in cortex.yaml, add nodes, or publish through the ingress mesh (no --host-ports)',
  });
}

export function contextDirectoryRefused(dir: string, reason: string): CortexError {
  return new CortexError(`cannot write the build context into ${dir}: ${reason}`, {
    exitCode: ExitCode.badInput,
    hint: 'name a folder that does not exist yet (its parent must) or an empty one; nothing was written',
  });
}

export function contextDirectoryFailed(dir: string, cause: Error): CortexError {
  return new CortexError(`writing the build context into ${dir} failed: ${cause.message}`, {
    exitCode: ExitCode.buildFailed,
    cause,
    hint: `remove ${dir} and run the command again once the files stop changing`,
  });
}
