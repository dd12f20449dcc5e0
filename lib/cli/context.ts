// What a command receives from the process, read once by main.ts: the settings of the environment,
// the clock, the output streams and the terminal, the engine, and the signal that Ctrl-C aborts.

import type { BuildEnvironment, BuildEvent } from '../build/environment.js';
import type { DockerCli } from '../engine/docker-cli.js';
import type { Engine } from '../engine/engine.js';
import type { Settings } from '../settings.js';

/** Raw writes to the stream the build's lines go to, for the live line (tty mode). */
export interface LiveStream {
  isTTY: boolean;
  /** The terminal's width: a live line longer than it would wrap, and \r could not rewrite it. */
  columns?: number | undefined;
  write(text: string): void;
}

export interface Output {
  out(line: string): void;
  err(line: string): void;
}

export interface CommandContext {
  settings: Settings;
  now(): Date;
  output: Output;
  engine(): Promise<Engine>;
  /** The docker command line, for what the engine API does not do (`docker stack deploy`). */
  docker(): DockerCli;
  signal: AbortSignal;
  toolVersion: string;
  /** Raw writes to stderr when it is a terminal (progress bars); undefined otherwise. */
  terminal?: { write(text: string): void };
  /**
   * What --progress auto and colours depend on: CI and NO_COLOR from the environment, and raw
   * access to stdout and stderr (absent when the output is captured, as in tests).
   */
  display: { ci: boolean; noColor: boolean; out?: LiveStream; err?: LiveStream };
}

/** The environment a build runs in, from the command's context; its events go to `report`. */
export function buildEnvironment(ctx: CommandContext, report: (event: BuildEvent) => void): BuildEnvironment {
  return {
    engine: ctx.engine,
    now: ctx.now,
    report,
    signal: ctx.signal,
    toolVersion: ctx.toolVersion,
    home: ctx.settings.home,
    credentials: ctx.settings.credentials,
  };
}
