// The command-line entry point: reads the process environment once, runs one command of the
// command table, and is the only place that catches errors, prints them and chooses the exit status.

import { engineUserError } from '../engine/user-errors.js';
import { dockerCli, type DockerCli } from '../engine/docker-cli.js';
import type { Engine } from '../engine/engine.js';
import { CortexError, ExitCode, interrupted, usageError } from '../errors.js';
import { packageVersion } from '../package-root.js';
import { connectEngine, readSettings } from '../settings.js';
import { plainText } from '../text.js';
import type { AnyCommand } from './command.js';
import { COMMANDS } from './commands/index.js';
import type { CommandContext, LiveStream, Output } from './context.js';
import { commandHelp, overallHelp } from './help.js';
import { inCi } from './progress.js';

export interface MainOptions {
  env: NodeJS.ProcessEnv;
  output?: Output;
  /** Replaces the Docker engine, for tests. */
  engine?: () => Engine;
  /** Replaces the docker command line, for tests. */
  docker?: () => DockerCli;
  signal?: AbortSignal;
}

export async function main(argv: string[], options: MainOptions): Promise<number> {
  const output = options.output ?? processOutput();
  try {
    const [name, ...rest] = argv;
    if (name === undefined || name === '--help' || name === '-h') {
      output.out(overallHelp(COMMANDS));
      return ExitCode.ok;
    }
    if (name === '--version' || name === '-v') {
      output.out(packageVersion());
      return ExitCode.ok;
    }
    if (name === 'help') {
      output.out(rest[0] === undefined ? overallHelp(COMMANDS) : commandHelp(commandNamed(rest[0])));
      return ExitCode.ok;
    }
    const command = commandNamed(name);
    if (asksForHelp(rest)) {
      output.out(commandHelp(command));
      return ExitCode.ok;
    }
    const args: unknown = command.parse(rest);
    return await command.run(args, commandContext(options, output));
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

/** The command a command line names and its arguments as that command reads them (a usage error otherwise). */
export function parseCommandLine(argv: string[]): { command: AnyCommand; args: unknown } {
  const [name = '', ...rest] = argv;
  const command = commandNamed(name);
  return { command, args: command.parse(rest) };
}

function commandNamed(name: string): AnyCommand {
  const found = COMMANDS.find((c) => c.name === name);
  if (!found)
    throw usageError(
      `unknown command ${JSON.stringify(name)}`,
      `the commands are ${COMMANDS.map((c) => c.name).join(', ')}; run 'cortex-s2i --help'`,
    );
  return found;
}

/** `--help` or `-h` among a command's options (not after `--`, where words are arguments). */
function asksForHelp(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** The context a command runs in, from the environment (read here, once). Throws the usage errors of malformed settings. */
function commandContext(options: MainOptions, output: Output): CommandContext {
  const { env } = options;
  const raw = options.output === undefined;
  const signal = options.signal ?? new AbortController().signal;
  const settings = readSettings(env);
  return {
    settings,
    now: () => new Date(),
    output,
    engine: options.engine ? async () => options.engine!() : () => connectEngine(settings, signal),
    docker: options.docker ?? (() => dockerCli(env, signal)),
    signal,
    toolVersion: packageVersion(),
    ...(raw && process.stderr.isTTY ? { terminal: { write: (t: string) => void process.stderr.write(t) } } : {}),
    display: {
      ci: inCi(env),
      noColor: !!env.NO_COLOR,
      ...(raw ? { out: liveStream(process.stdout), err: liveStream(process.stderr) } : {}),
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
