// Times the engine's steps as its events come: each step ends when the next begins or the build
// does. The durations go into the build's report; every event goes on to the build's reporter.

import type { BuildEvent as EngineBuildEvent } from '../engine/engine.js';
import type { BuildEvent, FinishedStep } from './environment.js';

export class StepClock {
  readonly finished: FinishedStep[] = [];
  private running: { step: number; total: number; instruction: string; started: number; cached: boolean } | undefined;

  constructor(
    private readonly now: () => Date,
    private readonly report: (event: BuildEvent) => void,
    /** The step that installs the dependencies (render/dockerfile.ts), if any. */
    private readonly dependencyStep: number | undefined,
  ) {}

  readonly onEvent = (event: EngineBuildEvent): void => {
    switch (event.type) {
      case 'step':
        this.finish();
        this.running = { ...event, started: this.now().getTime(), cached: false };
        this.report({ ...event, dependencies: event.step === this.dependencyStep });
        return;
      case 'cached':
        if (this.running) this.running.cached = true;
        break;
      case 'log':
        break;
    }
    this.report(event);
  };

  /** Ends the running step: the build is over. */
  finish(): void {
    const s = this.running;
    if (!s) return;
    this.running = undefined;
    const finished: FinishedStep = {
      step: s.step,
      total: s.total,
      instruction: s.instruction,
      seconds: (this.now().getTime() - s.started) / 1000,
      cached: s.cached,
      dependencies: s.step === this.dependencyStep,
    };
    this.finished.push(finished);
    this.report({ type: 'finished', step: finished });
  }
}
