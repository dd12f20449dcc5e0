// The library API: `import { build } from 'cortex-s2i'` plans and builds an image from Node code
// through the same build as the command line (lib/build), with the same checks, account and
// typed errors (with their exit statuses). Like the command's entry, it is where the process is
// met: the environment (`environment`, default process.env) and the clock are read here.

import path from 'node:path';
import { dryRunLines, logLine, stepLine } from './build/account.js';
import { checkImageName, checkMakeOptions, envPair } from './build/checks.js';
import type {
  BuildEvent as BuildProgressEvent,
  BuildOutcome,
  BuildRequest,
  ImageRequest,
  MakeOptions,
} from './build/index.js';
import type { BuildReport } from './build/publish.js';
import type { BuildEvent as EngineBuildEvent, Engine } from './engine/engine.js';
import { engineUserError } from './engine/user-errors.js';
import { CortexError, ExitCode } from './errors.js';
import { packageVersion } from './package-root.js';
import { connectEngine, readSettings } from './settings.js';

export { CortexError, ExitCode } from './errors.js';
export type { BuildReport as BuildResult, PushedImage } from './build/publish.js';

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
  /** The one API of a Cortex project to build, as `--api`. */
  api?: string;
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

/**
 * Builds (and with `push`, pushes) the image, and resolves with the document `--json` prints.
 * Rejects with a CortexError whose `exitCode` is the CLI's exit status for the same failure.
 */
export async function build(options: BuildOptions): Promise<BuildReport> {
  const outcome = await run(options, false);
  if (outcome.kind !== 'image') throw new Error(`a build ended as ${outcome.kind}`);
  return outcome.report;
}

/** The plan and Dockerfile of a build, as `--dry-run`: nothing is sent to an engine for a bundled builder. */
export async function plan(options: BuildOptions): Promise<PlanResult> {
  const outcome = await run(options, true);
  if (outcome.kind !== 'dry-run') throw new Error(`a dry run ended as ${outcome.kind}`);
  for (const text of dryRunLines(outcome.dockerfile)) options.onEvent?.({ type: 'output', stream: 'out', text });
  const { image, dockerfile, plan: lines, warnings } = outcome;
  return { image, dockerfile, plan: lines, warnings };
}

async function run(options: BuildOptions, dryRun: boolean): Promise<BuildOutcome> {
  const asked = requestOf(options, dryRun);
  const emit = options.onEvent;
  const quiet = options.progress === 'quiet';
  const output = (stream: 'out' | 'err', text: string) => emit?.({ type: 'output', stream, text });
  const signal = options.signal ?? new AbortController().signal;
  try {
    const settings = readSettings(options.environment ?? process.env);
    const request: BuildRequest = {
      image: { ...asked.image, builderRepo: settings.builderRepo, sourceDateEpoch: settings.sourceDateEpoch },
      make: asked.make,
    };
    const { build: runBuild } = await import('./build/index.js');
    return await runBuild(request, {
      engine: options.engine ? async () => options.engine!() : () => connectEngine(settings, signal),
      now: () => new Date(),
      report: (event: BuildProgressEvent) => {
        switch (event.type) {
          case 'line':
            return quiet ? undefined : output('out', event.text);
          case 'warning':
            return output('err', `warning: ${event.text}`);
          case 'result':
            return output('out', event.text);
          case 'finished':
            return quiet ? undefined : output('out', stepLine(event.step));
          case 'log': {
            emit?.(event);
            const line = quiet ? undefined : logLine(event.text);
            return line === undefined ? undefined : output('out', line);
          }
          default:
            return emit?.(event);
        }
      },
      signal,
      toolVersion: packageVersion(),
      home: settings.home,
      credentials: settings.credentials,
    });
  } catch (err) {
    throw engineUserError(err, options.signal) ?? err;
  }
}

const KNOWN = new Set([
  'source',
  'builder',
  'image',
  'env',
  'project',
  'api',
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
 * The options as a build request, checked as the command line checks its arguments (the same
 * checks: an image name the engine would misread, say), so that the library refuses what the
 * CLI refuses, with the same status. The settings' fields are filled from the environment later.
 */
function requestOf(
  options: BuildOptions,
  dryRun: boolean,
): { image: Omit<ImageRequest, 'builderRepo' | 'sourceDateEpoch'>; make: MakeOptions } {
  if (options === null || typeof options !== 'object') throw invalid('expected an object');
  for (const key of Object.keys(options)) if (!KNOWN.has(key)) throw invalid(`unknown option ${JSON.stringify(key)}`);
  for (const key of ['source', 'builder', 'image'] as const) {
    if (typeof options[key] !== 'string' || options[key] === '') throw invalid(`${key} must be a non-empty string`);
  }
  for (const key of ['project', 'api', 'digestFile'] as const) {
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
  const env = Object.entries(options.env ?? {}).map(([k, v]) => {
    if (typeof v !== 'string') throw invalid(`env.${k} must be a string`);
    return envPair(`${k}=${v}`);
  });
  checkImageName(options.image);
  const make: MakeOptions = {
    dryRun,
    asDockerfile: undefined,
    noCache: options.noCache ?? false,
    compress: options.compress ?? false,
    cacheFrom: options.cacheFrom ?? [],
    push: options.push ?? false,
    digestFile: options.digestFile,
  };
  checkMakeOptions(make);
  return {
    image: {
      source: path.resolve(options.source),
      builder: options.builder,
      name: options.image,
      env,
      project: options.project === undefined ? undefined : path.resolve(options.project),
      api: options.api,
      allowRoot: options.allowRoot ?? false,
    },
    make,
  };
}
