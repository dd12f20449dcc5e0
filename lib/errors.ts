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
  /** The engine refused a request (an HTTP error outside the build log) or answered what the API does not allow. */
  engineFailed: 5,
  /** Stopped by a signal: 128 + its number, as a shell reports it. */
  hangup: 129,
  interrupted: 130,
  terminated: 143,
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
export function engineRefused(operation: string, statusCode: number | undefined, message: string, cause?: unknown): CortexError {
  return new CortexError(`the engine refused ${operation}: ${message}${statusCode === undefined ? '' : ` (HTTP ${statusCode})`}`, {
    exitCode: ExitCode.engineFailed,
    cause,
    hint: 'the message above is the engine\'s own; nothing was tagged',
  });
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
    hint: removed ? `nothing was tagged, and the built image ${imageId} was removed` : `nothing was tagged; the built image ${imageId} was kept, as it existed before this build`,
  });
}

export function buildFailed(image: string, reason: string, lastLines: string[]): CortexError {
  return new CortexError(`building ${image} failed: ${reason}`, {
    exitCode: ExitCode.buildFailed,
    details: lastLines,
    hint: 'the lines above are the end of the build log; nothing was tagged',
  });
}

export function contextUnreadable(image: string, cause: Error): CortexError {
  return new CortexError(`building ${image} failed: ${cause.message}`, {
    exitCode: ExitCode.buildFailed,
    cause,
    hint: 'run the build again once the files stop changing; nothing was tagged',
  });
}

const SIGNAL_EXIT: Record<string, ExitCode> = { SIGINT: ExitCode.interrupted, SIGTERM: ExitCode.terminated, SIGHUP: ExitCode.hangup };

/** Stopped by `signal` (SIGINT when not said): the exit status says which, as 128 + its number. */
export function interrupted(signal?: unknown): CortexError {
  const name = typeof signal === 'string' && signal in SIGNAL_EXIT ? signal : 'SIGINT';
  return new CortexError(`interrupted by ${name}; nothing was tagged`, { exitCode: SIGNAL_EXIT[name]! });
}
