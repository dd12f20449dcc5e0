// The command-line entry point: reads the process environment once, runs one command, and is the
// only place that catches errors, prints them and chooses the exit status.

import type { Engine } from '../engine/engine.js';
import { CortexError, ExitCode } from '../errors.js';
import { packageVersion } from '../package-root.js';
import { DEFAULT_BUILDER_REPO } from '../plan/builders.js';
import { parseCommand, USAGE } from './args.js';
import type { CommandContext, Output } from './context.js';

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
    const ctx: CommandContext = {
      dockerHost: options.env.DOCKER_HOST,
      home: options.env.HOME || undefined,
      sourceDateEpoch: readEpoch(options.env.SOURCE_DATE_EPOCH),
      now: () => new Date(),
      output,
      // Loaded on first use: dockerode and its dependencies take longer to load than --help or a
      // dry run take altogether.
      engine: options.engine ? async () => options.engine!() : async () => (await import('../engine/docker-engine.js')).dockerEngine(options.env.DOCKER_HOST),
      signal: options.signal ?? new AbortController().signal,
      toolVersion,
      builderRepo: readBuilderRepo(options.env.CORTEX_S2I_BUILDER_REPO),
      ...(options.output === undefined && process.stderr.isTTY ? { terminal: { write: (t: string) => void process.stderr.write(t) } } : {}),
    };
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
      case 'job-run':
      case 'job-status':
      case 'job-render':
        return await (await import('./commands/job.js')).jobCommand(command, ctx);
      case 'deploy':
        return await (await import('./commands/deploy.js')).deployCommand(command, ctx);
    }
  } catch (err) {
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
 * stdout and stderr, ignoring a reader that went away (`cortex-s2i build ... | head`): the build
 * goes on to its end and its exit status, rather than dying half-way with EPIPE.
 */
function processOutput(): Output {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
  const write = (stream: NodeJS.WriteStream, line: string) => {
    if (!stream.destroyed) stream.write(`${line}\n`);
  };
  return { out: (l) => write(process.stdout, l), err: (l) => write(process.stderr, l) };
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

function readEpoch(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) {
    throw new CortexError(`SOURCE_DATE_EPOCH=${JSON.stringify(value)} is not a whole number of seconds`, {
      exitCode: ExitCode.badInput,
      hint: 'e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)',
    });
  }
  return Number(value);
}

/** Runs main for the real process: Ctrl-C aborts the command, which cleans up and exits 130. */
export async function run(): Promise<void> {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.once('SIGTERM', () => controller.abort());
  process.exitCode = await main(process.argv.slice(2), { env: process.env, signal: controller.signal });
}
