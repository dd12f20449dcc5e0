// The library API: `import { build } from 'cortex-s2i'` plans and builds an image from Node code
// with the same checks, output and typed errors (with their exit statuses) as the command line.

import { engineUserError } from './engine/user-errors.js';
import type { BuildEvent as EngineBuildEvent, Engine } from './engine/engine.js';
import { CortexError, ExitCode } from './errors.js';
import { packageVersion } from './package-root.js';
import { parseCommand, type Command } from './cli/args.js';
import type { Output } from './cli/context.js';
import { commandContext } from './cli/main.js';
import type { BuildReport } from './cli/commands/build-publish.js';

export { CortexError, ExitCode } from './errors.js';
export type { BuildReport as BuildResult } from './cli/commands/build-publish.js';
export type { PushedImage } from './cli/commands/registry-access.js';

/** What a build reports as it goes: the lines the CLI would print, and the engine's own events. */
export type BuildEvent =
  /** A line of the build's log (`out`: plan, steps, results) or a warning or error (`err`). */
  | { type: 'output'; stream: 'out' | 'err'; text: string }
  /** The engine started a Dockerfile step, took one from its cache, or printed a line. */
  | EngineBuildEvent;

export interface BuildOptions {
  /** The model folder, as `cortex-s2i build <source-dir>`. */
  source: string;
  /** `train` (alias `model`), `daemon` (alias `predict`), or the reference of an s2i builder image. */
  builder: string;
  /** The image to build: `[registry[:port]/]path[:tag]`. */
  image: string;
  /** Added to the image's environment, as `-e KEY=VALUE`. */
  env?: Record<string, string>;
  /** The project folder around the model (default: found by looking around), as `--project`. */
  project?: string;
  noCache?: boolean;
  /** gzip the context sent to the engine (helps a remote engine). */
  compress?: boolean;
  /** Accept an s2i builder image that runs as root. */
  allowRoot?: boolean;
  /** Push the image to its registry once built; the result then has `digest` and `pushed`. */
  push?: boolean;
  /** Write the pushed digest (`sha256:…`) to this file; needs `push`. */
  digestFile?: string;
  /** Images to reuse the dependency layer of, pulled when missing, as `--cache-from`. */
  cacheFrom?: string[];
  /** `plain` (default): every line through `onEvent`; `quiet`: only warnings and the result line. */
  progress?: 'plain' | 'quiet';
  /**
   * Where DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_CONFIG, SOURCE_DATE_EPOCH,
   * HOME and the CORTEX_S2I_* settings are read from (default: process.env).
   */
  environment?: NodeJS.ProcessEnv;
  /** Aborting it stops the build and removes what it made; the promise rejects with status 130. */
  signal?: AbortSignal;
  /** Called for every line and engine event; without it, the build prints nothing anywhere. */
  onEvent?: (event: BuildEvent) => void;
  /** Replaces the Docker engine (tests). */
  engine?: () => Engine;
}

/** A dry run's answer: the plan as `--dry-run` prints it, and the Dockerfile. */
export interface PlanResult {
  image: string;
  dockerfile: string;
  plan: string[];
  warnings: string[];
}

const KNOWN = new Set([
  'source',
  'builder',
  'image',
  'env',
  'project',
  'noCache',
  'compress',
  'allowRoot',
  'push',
  'digestFile',
  'cacheFrom',
  'progress',
  'environment',
  'signal',
  'onEvent',
  'engine',
]);

function invalid(message: string): CortexError {
  return new CortexError(`build options: ${message}`, {
    exitCode: ExitCode.badInput,
    hint: 'see the BuildOptions type of cortex-s2i',
  });
}

/**
 * The options as the command line's arguments, parsed by the same parser, so that the library
 * refuses exactly what the CLI refuses (an image name the engine would misread, say).
 */
function buildCommandOf(options: BuildOptions, extra: string[] = []): Extract<Command, { name: 'build' }> {
  if (options === null || typeof options !== 'object') throw invalid('expected an object');
  for (const key of Object.keys(options)) if (!KNOWN.has(key)) throw invalid(`unknown option ${JSON.stringify(key)}`);
  for (const key of ['source', 'builder', 'image'] as const) {
    if (typeof options[key] !== 'string' || options[key] === '') throw invalid(`${key} must be a non-empty string`);
  }
  for (const key of ['project', 'digestFile'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'string') throw invalid(`${key} must be a string`);
  }
  for (const key of ['noCache', 'compress', 'allowRoot', 'push'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') throw invalid(`${key} must be true or false`);
  }
  if (options.progress !== undefined && options.progress !== 'plain' && options.progress !== 'quiet')
    throw invalid('progress must be "plain" or "quiet"');
  if (
    options.cacheFrom !== undefined &&
    (!Array.isArray(options.cacheFrom) || options.cacheFrom.some((c) => typeof c !== 'string'))
  )
    throw invalid('cacheFrom must be an array of image references');
  if (options.onEvent !== undefined && typeof options.onEvent !== 'function')
    throw invalid('onEvent must be a function');
  const args: string[] = [];
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (typeof v !== 'string') throw invalid(`env.${k} must be a string`);
    args.push('-e', `${k}=${v}`);
  }
  if (options.project !== undefined) args.push('--project', options.project);
  if (options.noCache) args.push('--no-cache');
  if (options.compress) args.push('--compress');
  if (options.allowRoot) args.push('--allow-root');
  if (options.push) args.push('--push');
  if (options.digestFile !== undefined) args.push('--digest-file', options.digestFile);
  for (const ref of options.cacheFrom ?? []) args.push('--cache-from', ref);
  args.push('--progress', options.progress ?? 'plain', ...extra);
  // After --, a source or image that starts with - is still an argument, not an option.
  const cmd = parseCommand(['build', ...args, '--', options.source, options.builder, options.image]);
  if (cmd.name !== 'build') throw new Error('parsed a build as another command');
  return cmd;
}

async function run<T>(
  options: BuildOptions,
  extra: string[],
  pick: (outcome: Awaited<ReturnType<typeof import('./cli/commands/build.js').runBuild>>) => T,
): Promise<T> {
  const cmd = buildCommandOf(options, extra);
  const emit = options.onEvent;
  const output: Output = {
    out: (text) => emit?.({ type: 'output', stream: 'out', text }),
    err: (text) => emit?.({ type: 'output', stream: 'err', text }),
  };
  try {
    const ctx = commandContext({
      env: options.environment ?? process.env,
      output,
      toolVersion: packageVersion(),
      ...(options.engine ? { engine: options.engine } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (emit) ctx.onBuildEvent = emit;
    const { runBuild } = await import('./cli/commands/build.js');
    return pick(await runBuild(cmd, ctx));
  } catch (err) {
    throw engineUserError(err, options.signal) ?? err;
  }
}

/**
 * Builds (and with `push`, pushes) the image, and resolves with the document `--json` prints.
 * Rejects with a CortexError whose `exitCode` is the CLI's exit status for the same failure.
 */
export async function build(options: BuildOptions): Promise<BuildReport> {
  return run(options, [], (outcome) => {
    if (outcome.kind !== 'built') throw new Error(`a build ended as ${outcome.kind}`);
    return outcome.report;
  });
}

/** The plan and Dockerfile of a build, as `--dry-run`: nothing is sent to an engine for a bundled builder. */
export async function plan(options: BuildOptions): Promise<PlanResult> {
  return run(options, ['--dry-run'], (outcome) => {
    if (outcome.kind !== 'dry-run') throw new Error(`a dry run ended as ${outcome.kind}`);
    const { image, dockerfile, plan: lines, warnings } = outcome;
    return { image, dockerfile, plan: lines, warnings };
  });
}
