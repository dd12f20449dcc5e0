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

export function unsafeWrite(file: string, reason: string): CortexError {
  return new CortexError(`refusing to write ${file}: ${reason}; nothing was written there`, {
    exitCode: ExitCode.badInput,
    hint: 'generated files are never written through a link or outside the project: replace the link with a real file or folder, or remove it',
  });
}
