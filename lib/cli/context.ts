// What a command receives from the process: the environment values it needs, read once here,
// the clock, the output streams, the engine, and the signal that Ctrl-C aborts.

import type { CredentialOptions } from '../engine/credentials.js';
import type { BuildEvent, Engine } from '../engine/engine.js';
import type { LiveStream } from './progress.js';

export interface Output {
  out(line: string): void;
  err(line: string): void;
}

export interface CommandContext {
  dockerHost: string | undefined;
  /** HOME: a project's root is never searched for at or above it. */
  home: string | undefined;
  /** SOURCE_DATE_EPOCH, when set: fixes image timestamps for reproducible builds. */
  sourceDateEpoch: number | undefined;
  now(): Date;
  output: Output;
  engine(): Promise<Engine>;
  signal: AbortSignal;
  toolVersion: string;
  /** CORTEX_S2I_BUILDER_REPO: the repository of the bundled builder images. */
  builderRepo: string;
  /**
   * Where registry credentials are read (DOCKER_CONFIG), and the environment credential helpers run
   * with. main() always sets it; commands that never meet a registry need not.
   */
  credentials?: CredentialOptions;
  /** Raw writes to stderr when it is a terminal (progress bars); undefined otherwise. */
  terminal?: { write(text: string): void };
  /**
   * What --progress auto and colours depend on: CI and NO_COLOR from the environment, and raw
   * access to stdout and stderr (absent when the output is captured, as in tests).
   */
  display?: { ci: boolean; noColor: boolean; out?: LiveStream; err?: LiveStream };
  /** Sees every event of the engine's build, for callers of the library API. */
  onBuildEvent?: (event: BuildEvent) => void;
}
