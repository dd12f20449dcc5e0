// What a build is given besides its request, as explicit values: the engine, the clock, where it
// reports as it goes, the signal that stops it, and the facts of the machine it runs on. The
// command line makes one from the process; the library from its caller's options; tests from fakes.

import type { CredentialOptions } from '../engine/credentials.js';
import type { BuildEvent as EngineBuildEvent, Engine } from '../engine/engine.js';

export interface BuildEnvironment {
  /** The engine, connected on first use: a dry run with a bundled builder never asks for it. */
  engine(): Promise<Engine>;
  now(): Date;
  /** Where the build reports as it goes; it never prints. */
  report(event: BuildEvent): void;
  /** Aborting it stops the build at once and removes what it made. */
  signal: AbortSignal;
  toolVersion: string;
  /** HOME: a project's root is never searched for at or above it. */
  home: string | undefined;
  /** Registry credentials, for --push and --cache-from. */
  credentials: CredentialOptions;
}

/** A step of the engine's build, finished: how long it took and whether the engine's cache gave it. */
export interface FinishedStep {
  step: number;
  total: number;
  instruction: string;
  seconds: number;
  cached: boolean;
  /** The step that installs setup.sh and the requirements. */
  dependencies: boolean;
}

/** What a build reports as it goes. */
export type BuildEvent =
  /** A line of the build's account: the plan, what it sends, pulls and pushes. */
  | { type: 'line'; text: string }
  /** Something the user should know that does not stop the build. */
  | { type: 'warning'; text: string }
  /** The one line saying what was made: `built x (sha256:…) in 2.1s`. */
  | { type: 'result'; text: string }
  /** The engine started a step; `dependencies` marks the step that installs them. */
  | (Extract<EngineBuildEvent, { type: 'step' }> & { dependencies: boolean })
  /** The engine took the running step from its cache, or printed a line of its log. */
  | Exclude<EngineBuildEvent, { type: 'step' }>
  /** A step ended (the next began, or the build did). */
  | { type: 'finished'; step: FinishedStep };
