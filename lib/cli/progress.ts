// Prints a build as it happens, in the style that fits where it is read: live step lines with a
// running clock on a terminal, one plain line per finished step in a CI log, or nothing but the
// result; the engine's log indented between them.

import type { BuildEvent } from '../engine/engine.js';
import type { Output } from './context.js';

// The engine's own bookkeeping lines: steps are printed with their durations instead.
const ENGINE_CHATTER = /^(Step \d+\/\d+ : | ---> |Removing intermediate container |Successfully (built|tagged) )/;

export const PROGRESS_MODES = ['auto', 'tty', 'plain', 'quiet'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

/** How a build is shown once `auto` is decided. */
export interface ProgressStyle {
  mode: 'tty' | 'plain' | 'quiet';
  /** ANSI colours: only on a terminal, in tty mode, without NO_COLOR. */
  color: boolean;
}

/** Raw writes to the stream the build's lines go to, for the live line (tty mode). */
export interface LiveStream {
  isTTY: boolean;
  /** The terminal's width: a live line longer than it would wrap, and \r could not rewrite it. */
  columns?: number | undefined;
  write(text: string): void;
}

/** A CI system says so in CI (GitHub Actions, GitLab, Travis, CircleCI, Jenkins' plugins...). */
export function inCi(env: NodeJS.ProcessEnv): boolean {
  const ci = env.CI?.trim().toLowerCase();
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}

/**
 * `auto` is tty when the build's lines go to a terminal and CI is not set, plain otherwise.
 * NO_COLOR with any non-empty value turns colour off (https://no-color.org).
 */
export function resolveProgress(
  asked: ProgressMode,
  stream: { isTTY: boolean },
  env: NodeJS.ProcessEnv,
): ProgressStyle {
  const mode = asked === 'auto' ? (stream.isTTY && !inCi(env) ? 'tty' : 'plain') : asked;
  return { mode, color: mode === 'tty' && stream.isTTY && !env.NO_COLOR };
}

const CLEAR_LINE = '\r\u001b[K';
const paint = (on: boolean, code: string, text: string) => (on ? `\u001b[${code}m${text}\u001b[0m` : text);

interface Step {
  number: number;
  total: number;
  instruction: string;
  started: number;
  cached: boolean;
}

export class BuildProgress {
  private step: Step | undefined;
  readonly durations: Array<{ step: number; seconds: number; cached: boolean; instruction: string }> = [];
  private readonly style: ProgressStyle;
  /** Set in tty mode: the stream the live line is drawn on. */
  private readonly live: LiveStream | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private drawn = false;

  constructor(
    private readonly output: Output,
    private readonly now: () => Date,
    private readonly showLog: boolean,
    private readonly dependencyStep: number | undefined,
    options: { style?: ProgressStyle; live?: LiveStream; redrawMs?: number } = {},
  ) {
    this.style = options.style ?? { mode: 'plain', color: false };
    // tty mode without a stream to draw on (output captured in memory) prints as plain does.
    this.live = this.style.mode === 'tty' ? options.live : undefined;
    this.redrawMs = options.redrawMs ?? 100;
  }

  private readonly redrawMs: number;

  onEvent = (event: BuildEvent): void => {
    switch (event.type) {
      case 'step':
        this.finishStep();
        this.step = {
          number: event.step,
          total: event.total,
          instruction: event.instruction,
          started: this.now().getTime(),
          cached: false,
        };
        this.startLive();
        break;
      case 'cached':
        if (this.step) this.step.cached = true;
        this.redraw();
        break;
      case 'log':
        if (this.showLog && this.style.mode !== 'quiet' && !ENGINE_CHATTER.test(event.text))
          this.line(`    | ${printable(event.text)}`);
        break;
    }
  };

  finishStep(): void {
    const s = this.step;
    if (!s) return;
    this.stopLive();
    const seconds = (this.now().getTime() - s.started) / 1000;
    this.durations.push({ step: s.number, seconds, cached: s.cached, instruction: s.instruction });
    this.step = undefined;
    if (this.style.mode === 'quiet') return;
    this.line(this.stepLine(s, seconds, true));
  }

  /** Draws the live line again with the time so far (the timer calls it; tests may too). */
  redraw(): void {
    if (!this.live || !this.step) return;
    const seconds = (this.now().getTime() - this.step.started) / 1000;
    this.live.write(`${CLEAR_LINE}${this.stepLine(this.step, seconds, false)}`);
    this.drawn = true;
  }

  private stepLine(s: Step, seconds: number, finished: boolean): string {
    const c = this.style.color && this.live !== undefined;
    const isDeps = s.number === this.dependencyStep;
    let what: string;
    if (!finished)
      what = isDeps
        ? 'dependencies: installing…'
        : fit(printable(short(s.instruction)), (this.live?.columns ?? 0) - 22);
    else if (isDeps)
      what = s.cached
        ? paint(c, '32', 'dependencies: cached, skipped (setup.sh and requirements unchanged)')
        : 'dependencies: installed';
    else what = printable(short(s.instruction));
    const cached = finished && s.cached && !isDeps ? `${paint(c, '32', '(cached)')} ` : '';
    const clock = `${seconds.toFixed(1).padStart(5)}s`;
    return `  ${paint(c, '2', `step ${s.number}/${s.total}`)} ${finished ? clock : paint(c, '33', clock)} ${cached}${what}`;
  }

  /** A whole line: below the live line's place, which is then drawn again. */
  private line(text: string): void {
    if (!this.live) {
      this.output.out(text);
      return;
    }
    this.live.write(`${this.drawn ? CLEAR_LINE : ''}${text}\n`);
    this.drawn = false;
    if (this.timer) this.redraw();
  }

  private startLive(): void {
    if (!this.live) return;
    this.redraw();
    if (this.redrawMs > 0) {
      this.timer = setInterval(() => this.redraw(), this.redrawMs);
      this.timer.unref();
    }
  }

  private stopLive(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.live && this.drawn) this.live.write(CLEAR_LINE);
    this.drawn = false;
  }

  /** Stops the live line's clock: the build ended, failed or was stopped. */
  close(): void {
    this.stopLive();
  }
}

/** At most `width` characters (none cut when the width is unknown). */
function fit(text: string, width: number): string {
  return width > 0 && text.length > width ? `${text.slice(0, Math.max(1, width - 1))}…` : text;
}

function short(instruction: string): string {
  return instruction.length > 100 ? `${instruction.slice(0, 100)}…` : instruction;
}

/**
 * Text safe to print: control characters other than tab and line end (escape sequences, carriage
 * returns, bells, C1 controls) are shown as \xNN instead of acting on the terminal.
 */
export function printable(text: string): string {
  return text.replace(CONTROL_CHARACTERS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** Plain text for a log that is not a terminal: printable, and tabs as spaces too. */
export function plainText(text: string): string {
  return printable(text).replace(/\t/g, '    ');
}
