// What every command of the command line is: its name, its synopsis and one line for the overall
// help, its usage, how it reads its arguments, and how it runs. A command is one module of
// commands/, named once in commands/index.ts; main.ts, the help and the README's command list all
// read that list. A command's module loads what it runs with (lib/build, lib/deploy, ...) only
// when it runs, so that `--help` pays for none of them.

import { parseArgs } from 'node:util';
import { usageError } from '../errors.js';
import type { CommandContext } from './context.js';

export interface Command<Args = never> {
  name: string;
  /** How it is called, without the program's name: `build <source-dir> <builder> <image> [options]`. */
  synopsis: string[];
  /** One line for the overall help and the README's command list. */
  summary: string;
  /** The rest of `<command> --help`: what it does, then its options. */
  usage: string;
  /** Reads the arguments after the command's name; anything malformed is a usage error. */
  parse(args: string[]): Args;
  /** Runs it; resolves with the exit status. */
  run(args: Args, ctx: CommandContext): Promise<number>;
}

/** A command whose arguments are read by `parse`, as the table keeps it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCommand = Command<any>;

export function command<Args>(c: Command<Args>): Command<Args> {
  return c;
}

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

/**
 * node:util parseArgs with the command's options, strict: an unknown or malformed option is a
 * usage error naming the command. Positionals after `--` are arguments even when they start with -.
 */
export function readOptions<O extends OptionSpec>(
  name: string,
  args: string[],
  options: O,
): ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    // parseArgs throws TypeErrors with a code for unknown or malformed options.
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))
      throw usageError(`${name}: ${(err as Error).message}`, `run 'cortex-s2i ${name} --help' for its usage`);
    throw err;
  }
}
