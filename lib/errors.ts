// The one user-facing error type: a message, a hint saying what to do, and the exit status.
// Only lib/cli/main.ts catches and prints these; everything else throws them through named
// factories so that the same failure always reads the same way.

import type { Problem } from './config/result.js';

export const ExitCode = {
  ok: 0,
  internal: 1,
  badInput: 2,
  buildFailed: 3,
  /** No engine answers, none that proves who it is over TLS, or it stopped answering (a deadline passed). */
  engineUnreachable: 4,
  /** The registry refused a push or pull for a reason other than the three below (the engine's message says which). */
  registryFailed: 10,
  /** Nothing answers at the registry's host and port. */
  registryDown: 11,
  /** The registry's host name does not resolve. */
  registryUnknown: 12,
  /** The registry refused the credentials, asked for some and none were found, or they could not be read. */
  registryCredentials: 13,
  /** The engine refused a request (an HTTP error outside the build log) or answered what the API does not allow. */
  engineFailed: 5,
  /** Stopped by a signal: 128 + its number, as a shell reports it. */
  hangup: 129,
  /** A batch job ended without every batch succeeding (failures, a dead worker, a timeout). */
  jobFailed: 6,
  interrupted: 130,
  terminated: 143,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class CortexError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: ExitCode;
  /** Evidence a user needs to act: problems with file and line, or the last lines of a log. */
  readonly details: string[];
  /**
   * The details are the end of a log that went by as it came (a build's): whoever showed it need
   * not show them twice.
   */
  readonly logTail: boolean;

  constructor(
    message: string,
    opts: { hint?: string; exitCode: ExitCode; details?: string[]; cause?: unknown; logTail?: boolean },
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CortexError';
    this.hint = opts.hint;
    this.exitCode = opts.exitCode;
    this.details = opts.details ?? [];
    this.logTail = opts.logTail ?? false;
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

export function engineUnreachable(where: string, cause: unknown, reason?: string): CortexError {
  if (reason) {
    return new CortexError(`cannot talk to the engine at ${where}: ${reason}`, {
      exitCode: ExitCode.engineUnreachable,
      cause,
      hint: 'check DOCKER_HOST, DOCKER_TLS_VERIFY and the ca.pem, cert.pem and key.pem in DOCKER_CERT_PATH (default ~/.docker)',
    });
  }
  return new CortexError(`no Docker engine answers at ${where}`, {
    exitCode: ExitCode.engineUnreachable,
    cause,
    hint: "start Docker ('make engine' does it on Debian as root), or set DOCKER_HOST to a running engine",
  });
}

/** DOCKER_HOST and its TLS settings ask for something the tool does not do: refused, not downgraded. */
export function badEngineAddress(message: string, hint: string): CortexError {
  return new CortexError(message, { exitCode: ExitCode.badInput, hint });
}

export function engineStalled(message: string, silence: boolean, cause?: unknown): CortexError {
  return new CortexError(`${message}; nothing was tagged`, {
    exitCode: ExitCode.engineUnreachable,
    cause,
    hint: silence
      ? 'check the engine (docker info); if a build step legitimately prints nothing for that long, raise CORTEX_S2I_BUILD_SILENCE_TIMEOUT (seconds)'
      : 'check the engine (docker info), or raise CORTEX_S2I_ENGINE_TIMEOUT (seconds) for a slow remote engine',
  });
}

/** The engine refused a request outside the build log, with its HTTP status and its message. */
export function engineRefused(
  operation: string,
  statusCode: number | undefined,
  message: string,
  cause?: unknown,
): CortexError {
  return new CortexError(
    `the engine refused ${operation}: ${message}${statusCode === undefined ? '' : ` (HTTP ${statusCode})`}`,
    {
      exitCode: ExitCode.engineFailed,
      cause,
      hint: "the message above is the engine's own; nothing was tagged",
    },
  );
}

/** The engine's answer is not what the Docker Engine API promises: not an engine, or a broken one. */
export function engineAnswerMalformed(message: string, cause?: unknown): CortexError {
  return new CortexError(message, {
    exitCode: ExitCode.engineFailed,
    cause,
    hint: 'check that DOCKER_HOST points at a Docker (or Podman) engine and not at another service; nothing was tagged',
  });
}

export function tagFailed(image: string, imageId: string, reason: string, removed: boolean): CortexError {
  return new CortexError(`tagging ${image} failed: ${reason}`, {
    exitCode: ExitCode.engineFailed,
    hint: removed
      ? `nothing was tagged, and the built image ${imageId} was removed`
      : `nothing was tagged; the built image ${imageId} was kept, as it existed before this build`,
  });
}

export function buildFailed(image: string, reason: string, lastLines: string[]): CortexError {
  return new CortexError(`building ${image} failed: ${reason}`, {
    exitCode: ExitCode.buildFailed,
    details: lastLines,
    logTail: true,
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

const SIGNAL_EXIT: Record<string, ExitCode> = {
  SIGINT: ExitCode.interrupted,
  SIGTERM: ExitCode.terminated,
  SIGHUP: ExitCode.hangup,
};

/** Stopped by `signal` (SIGINT when not said): the exit status says which, as 128 + its number. */
export function interrupted(signal?: unknown): CortexError {
  const name = typeof signal === 'string' && signal in SIGNAL_EXIT ? signal : 'SIGINT';
  return new CortexError(`interrupted by ${name}; nothing was tagged`, { exitCode: SIGNAL_EXIT[name]! });
}

// Registries: pushing and pulling. Each failure is one line naming the registry, and its own status.

export function registryDown(registry: string, ref: string): CortexError {
  return new CortexError(`no registry answers at ${registry}; ${ref} was not transferred`, {
    exitCode: ExitCode.registryDown,
    hint: 'start the registry, or check the host and port in the image name',
  });
}

export function registryUnknown(registry: string, ref: string): CortexError {
  return new CortexError(
    `registry host ${registry} is unknown (the name does not resolve); ${ref} was not transferred`,
    {
      exitCode: ExitCode.registryUnknown,
      hint: 'check the registry part of the image name (an image name without one means Docker Hub)',
    },
  );
}

export function registryRefusedCredentials(registry: string, source: string): CortexError {
  return new CortexError(`registry ${registry} refused the credentials from ${source}`, {
    exitCode: ExitCode.registryCredentials,
    hint: `log in again ('docker login ${registry}'), or fix the entry in config.json (DOCKER_CONFIG, default ~/.docker)`,
  });
}

export function registryNeedsCredentials(registry: string, source: string): CortexError {
  return new CortexError(`registry ${registry} asks for credentials and there are none (${source})`, {
    exitCode: ExitCode.registryCredentials,
    hint: `log in ('docker login ${registry}'), or set DOCKER_CONFIG to the folder of a config.json that has them`,
  });
}

export function credentialHelperFailed(program: string, registry: string, reason: string): CortexError {
  return new CortexError(`the credential helper ${program} gave no credentials for ${registry}: ${reason}`, {
    exitCode: ExitCode.registryCredentials,
    hint: 'check the helper by hand: echo <server> | ' + program + ' get',
  });
}

export function dockerConfigInvalid(problems: Problem[]): CortexError {
  return new CortexError('the Docker client configuration cannot be read', {
    exitCode: ExitCode.badInput,
    details: problems.map(formatProblem),
    hint: 'fix config.json (DOCKER_CONFIG, default ~/.docker), or point DOCKER_CONFIG at another folder',
  });
}

export function registryFailed(ref: string, reason: string): CortexError {
  return new CortexError(`the registry refused ${ref}: ${reason}`, {
    exitCode: ExitCode.registryFailed,
    hint: "the message above is the engine's; check the image name and your rights on the repository",
  });
}

export function imageNotFound(ref: string): CortexError {
  return new CortexError(`image ${ref} is not on the engine`, {
    exitCode: ExitCode.badInput,
    hint: 'build it first, or check the name and tag (docker images lists them)',
  });
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
  return new CortexError(
    `API ${api} asks for ${replicas} replicas, but with --host-ports each of the swarm's ${nodes} ready node${nodes === 1 ? '' : 's'} runs at most one`,
    {
      exitCode: ExitCode.badInput,
      hint: 'lower init_replicas (and min_replicas) in cortex.yaml, add nodes, or publish through the ingress mesh (no --host-ports)',
    },
  );
}

export function invalidJob(file: string, problems: Problem[]): CortexError {
  const n = problems.length;
  return new CortexError(`${file} has ${n} problem${n === 1 ? '' : 's'}; no job was started`, {
    exitCode: ExitCode.badInput,
    details: problems.map(formatProblem),
    hint: 'a job takes workers, config, timeout, max_receive_count and one of item_list, delimited_files, file_path_lister',
  });
}

export function jobExists(id: string, file: string): CortexError {
  return new CortexError(`job ${id} already exists (${file})`, {
    exitCode: ExitCode.badInput,
    hint: 'give another --id, or leave --id out for a new random one',
  });
}

export function jobNotFound(id: string, file: string): CortexError {
  return new CortexError(`no job ${id} here: ${file} does not exist`, {
    exitCode: ExitCode.badInput,
    hint: "run 'cortex-s2i job status' in the folder where 'job run' ran",
  });
}

/** A batch job that ended without every batch succeeding; its status lines were printed before. */
export function jobFailed(id: string, status: string, statusFile: string): CortexError {
  return new CortexError(`job ${id} ended ${status}: not every batch succeeded`, {
    exitCode: ExitCode.jobFailed,
    hint: `the lines above say what happened; ${statusFile} keeps the status, and the batches that kept failing are in jobs/${id}.dead-letter.ndjson`,
  });
}

export function splitTooLarge(bytes: number, limit: number): CortexError {
  return new CortexError(`the job's split is ${bytes} bytes or more, over a ConfigMap's ${limit}`, {
    exitCode: ExitCode.badInput,
    hint: 'copy the split folder into a PersistentVolumeClaim and pass --split-claim <name>',
  });
}

export function unsafeWrite(file: string, reason: string): CortexError {
  return new CortexError(`refusing to write ${file}: ${reason}; nothing was written there`, {
    exitCode: ExitCode.badInput,
    hint: 'generated files are never written through a link or outside the project: replace the link with a real file or folder, or remove it',
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
