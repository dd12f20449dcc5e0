// Prints a build as it happens: each step with how long it took, and the engine's log indented.

import type { BuildEvent } from '../engine/engine.js';
import type { Output } from './context.js';

// The engine's own bookkeeping lines: steps are printed with their durations instead.
const ENGINE_CHATTER = /^(Step \d+\/\d+ : | ---> |Removing intermediate container |Successfully (built|tagged) )/;

export class BuildProgress {
  private step: { number: number; total: number; instruction: string; started: number; cached: boolean } | undefined;
  readonly durations: Array<{ step: number; seconds: number; cached: boolean; instruction: string }> = [];

  constructor(
    private readonly output: Output,
    private readonly now: () => Date,
    private readonly showLog: boolean,
    private readonly dependencyStep: number | undefined,
  ) {}

  onEvent = (event: BuildEvent): void => {
    switch (event.type) {
      case 'step':
        this.finishStep();
        this.step = { number: event.step, total: event.total, instruction: event.instruction, started: this.now().getTime(), cached: false };
        break;
      case 'cached':
        if (this.step) this.step.cached = true;
        break;
      case 'log':
        if (this.showLog && !ENGINE_CHATTER.test(event.text)) {
          this.output.out(`    | ${printable(event.text)}`);
        }
        break;
    }
  };

  finishStep(): void {
    const s = this.step;
    if (!s) return;
    const seconds = (this.now().getTime() - s.started) / 1000;
    this.durations.push({ step: s.number, seconds, cached: s.cached, instruction: s.instruction });
    const what = s.number === this.dependencyStep ? (s.cached ? 'dependencies: cached, skipped (setup.sh and requirements unchanged)' : 'dependencies: installed') : short(s.instruction);
    this.output.out(`  step ${s.number}/${s.total} ${seconds.toFixed(1).padStart(5)}s ${s.cached && s.number !== this.dependencyStep ? '(cached) ' : ''}${what}`);
    this.step = undefined;
  }
}

function short(instruction: string): string {
  return instruction.length > 100 ? `${instruction.slice(0, 100)}…` : instruction;
}

/**
 * Text safe to print: control characters other than tab and line end (escape sequences, carriage
 * returns, bells, C1 controls) are shown as \xNN instead of acting on the terminal.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
