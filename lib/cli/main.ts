// The command-line entry point: reads the process environment once, runs one command, and is the
// only place that catches errors, prints them and chooses the exit status.

import { homedir } from 'node:os';
import path from 'node:path';
import type { EngineLimits } from '../engine/docker-engine.js';
import type { Engine } from '../engine/engine.js';
import { engineUserError } from '../engine/user-errors.js';
import { CortexError, ExitCode, interrupted } from '../errors.js';
import { packageVersion } from '../package-root.js';
import { DEFAULT_BUILDER_REPO } from '../plan/builders.js';
import { parseCommand, USAGE } from './args.js';
import type { CommandContext, Output } from './context.js';
import { inCi, plainText, type LiveStream } from './progress.js';

export interface MainOptions {
  env: NodeJS.ProcessEnv;
  output?: Output;
  /** Replaces the Docker engine, for tests. */
  engine?: () => Engine;
  signal?: AbortSignal;
}

export async function main(argv: string[], options: MainOptions): Promise<number> {
  const output = options.output ?? processOutput();
  try {
    const command = parseCommand(argv);
    if (command.name === 'help') {
      output.out(USAGE);
      return ExitCode.ok;
    }
    const toolVersion = packageVersion();
    if (command.name === 'version') {
      output.out(toolVersion);
      return ExitCode.ok;
    }
    const ctx = commandContext({ ...options, output, toolVersion, raw: options.output === undefined });
    // Each command's module is loaded when it runs, so that none pays for the others' imports.
    switch (command.name) {
      case 'build':
        return await (await import('./commands/build.js')).buildCommand(command, ctx);
      case 'builders':
        return await (await import('./commands/builders.js')).buildersCommand(command, ctx);
      case 'all':
        return await (await import('./commands/all.js')).allCommand(command, ctx);
      case 'init':
        return await (await import('./commands/init.js')).initCommand(command, ctx);
      case 'push':
        return await (await import('./commands/push.js')).pushCommand(command, ctx);
      case 'job-run':
      case 'job-status':
      case 'job-render':
        return await (await import('./commands/job.js')).jobCommand(command, ctx);
      case 'deploy':
        return await (await import('./commands/deploy.js')).deployCommand(command, ctx);
    }
  } catch (caught) {
    // Engine failures that reach this far still get their own message and status.
    const err = engineUserError(caught, options.signal) ?? caught;
    if (err instanceof CortexError) {
      output.err(`error: ${err.message}`);
      for (const d of err.details) output.err(`  ${d}`);
      if (err.hint) output.err(`hint: ${err.hint}`);
      return err.exitCode;
    }
    output.err(`error: unexpected failure: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return ExitCode.internal;
  }
}

/**
 * The context a command runs in, from the environment (read here, once): the CLI's, and the
 * library's with the environment its caller gives. Throws the usage errors of malformed settings.
 */
export function commandContext(options: {
  env: NodeJS.ProcessEnv;
  output: Output;
  toolVersion: string;
  engine?: () => Engine;
  signal?: AbortSignal;
  raw?: boolean;
}): CommandContext {
  const signal = options.signal ?? new AbortController().signal;
  const limits = readEngineLimits(options.env);
  const toolVersion = options.toolVersion;
  return {
    dockerHost: options.env.DOCKER_HOST,
    home: options.env.HOME || undefined,
    sourceDateEpoch: readEpoch(options.env.SOURCE_DATE_EPOCH),
    now: () => new Date(),
    output: options.output,
    // Loaded on first use: dockerode and its dependencies take longer to load than --help or a
    // dry run take altogether.
    engine: options.engine ? async () => options.engine!() : () => realEngine(options.env, limits, signal),
    signal,
    toolVersion,
    builderRepo: readBuilderRepo(options.env.CORTEX_S2I_BUILDER_REPO),
    credentials: { configDir: dockerConfigDir(options.env), helperEnv: options.env },
    ...(options.raw && process.stderr.isTTY
      ? { terminal: { write: (t: string) => void process.stderr.write(t) } }
      : {}),
    display: {
      ci: inCi(options.env),
      noColor: !!options.env.NO_COLOR,
      ...(options.raw ? { out: liveStream(process.stdout), err: liveStream(process.stderr) } : {}),
    },
  };
}

/**
 * stdout and stderr, ignoring a reader that went away (`cortex-s2i build ... | head`): the build
 * goes on to its end and its exit status, rather than dying half-way with EPIPE.
 */
function processOutput(): Output {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      // EIO: the terminal went away (SIGHUP); the command still cleans up and sets its status.
      if (err.code !== 'EPIPE' && err.code !== 'EIO') throw err;
    });
  }
  // Everything printed passes here: text from the engine and the files cannot move the cursor,
  // retitle the window or rewrite the screen; tabs are spaces, so a CI log gets no control bytes.
  const write = (stream: NodeJS.WriteStream, line: string) => {
    if (!stream.destroyed) stream.write(`${plainText(line)}\n`);
  };
  return { out: (l) => write(process.stdout, l), err: (l) => write(process.stderr, l) };
}

/** Raw writes for the live progress line of --progress tty. */
function liveStream(stream: NodeJS.WriteStream): LiveStream {
  return {
    isTTY: stream.isTTY === true,
    get columns() {
      return stream.columns;
    },
    write: (text) => void (stream.destroyed ? undefined : stream.write(text)),
  };
}

function readBuilderRepo(value: string | undefined): string {
  if (value === undefined || value === '') return DEFAULT_BUILDER_REPO;
  if (!/^[a-z0-9]+([._:/-][a-z0-9]+)*$/.test(value)) {
    throw new CortexError(`CORTEX_S2I_BUILDER_REPO=${JSON.stringify(value)} is not an image repository`, {
      exitCode: ExitCode.badInput,
      hint: 'e.g. CORTEX_S2I_BUILDER_REPO=registry.example.com/ml (lower case, no tag)',
    });
  }
  return value;
}

/** DOCKER_CONFIG, as the docker CLI reads it: the folder of config.json, ~/.docker by default. */
function dockerConfigDir(env: NodeJS.ProcessEnv): string {
  if (env.DOCKER_CONFIG) return env.DOCKER_CONFIG;
  return path.join(env.HOME || homedir(), '.docker');
}
/** The latest time a tar header holds (11 octal digits of seconds): 2242-03-16T12:56:31Z. */
const EPOCH_MAX = 0o77777777777;

function readEpoch(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const hint = 'e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)';
  if (!/^\d+$/.test(value)) {
    throw new CortexError(`SOURCE_DATE_EPOCH=${JSON.stringify(value)} is not a whole number of seconds`, {
      exitCode: ExitCode.badInput,
      hint,
    });
  }
  const seconds = Number(value);
  if (seconds > EPOCH_MAX) {
    throw new CortexError(
      `SOURCE_DATE_EPOCH=${value} is out of range: image timestamps go from 0 to ${EPOCH_MAX} (${new Date(EPOCH_MAX * 1000).toISOString()})`,
      { exitCode: ExitCode.badInput, hint },
    );
  }
  return seconds;
}

/** How long to wait for the engine: CORTEX_S2I_ENGINE_TIMEOUT and CORTEX_S2I_BUILD_SILENCE_TIMEOUT, in seconds. */
function readEngineLimits(env: NodeJS.ProcessEnv): Partial<EngineLimits> {
  const read = (name: string): number | undefined => {
    const value = env[name];
    if (value === undefined || value === '') return undefined;
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 7 * 24 * 3600) {
      throw new CortexError(`${name}=${JSON.stringify(value)} is not a number of seconds from 1 to 604800`, {
        exitCode: ExitCode.badInput,
        hint: `e.g. ${name}=600`,
      });
    }
    return Number(value);
  };
  const callSeconds = read('CORTEX_S2I_ENGINE_TIMEOUT');
  const buildSilenceSeconds = read('CORTEX_S2I_BUILD_SILENCE_TIMEOUT');
  return { ...(callSeconds ? { callSeconds } : {}), ...(buildSilenceSeconds ? { buildSilenceSeconds } : {}) };
}

/** The engine DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH name, as the docker CLI reads them. */
async function realEngine(env: NodeJS.ProcessEnv, limits: Partial<EngineLimits>, signal: AbortSignal): Promise<Engine> {
  const [{ dockerEngine }, { resolveEngineConnection }] = await Promise.all([
    import('../engine/docker-engine.js'),
    import('../engine/connection.js'),
  ]);
  const connection = resolveEngineConnection({
    DOCKER_HOST: env.DOCKER_HOST,
    DOCKER_TLS_VERIFY: env.DOCKER_TLS_VERIFY,
    DOCKER_TLS: env.DOCKER_TLS,
    DOCKER_CERT_PATH: env.DOCKER_CERT_PATH,
    home: env.HOME || homedir(),
  });
  return dockerEngine(connection, { limits, interrupt: signal });
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs main for the real process. Ctrl-C, SIGTERM and SIGHUP abort the command at once, even
 * while it waits on an engine that does not answer; it removes what it made and exits 130, 143
 * or 129. A second signal stops the cleanup too.
 */
export async function run(): Promise<void> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (!controller.signal.aborted) {
      controller.abort(signal);
      return;
    }
    const error = interrupted(controller.signal.reason);
    process.stderr.write(`error: ${signal} again: stopped before the cleanup finished\n`);
    process.exit(error.exitCode);
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  process.exitCode = await main(process.argv.slice(2), { env: process.env, signal: controller.signal });
  // The command is over: a request to an engine that never answered must not keep the process.
  setTimeout(() => process.exit(), 1000).unref();
}
