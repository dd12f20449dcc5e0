// Shows a build as it happens, in the style that fits where it is read: live step lines with a
// running clock on a terminal, one plain line per finished step in a CI log, or nothing but the
// result; the engine's log indented between them.

import { logLine, shortInstruction, stepLine, type Paint } from '../build/account.js';
import type { BuildEvent } from '../build/environment.js';
import { printable } from '../text.js';
import type { LiveStream, Output } from './context.js';

export const PROGRESS_MODES = ['auto', 'tty', 'plain', 'quiet'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

/** How a build is shown once `auto` is decided. */
export interface ProgressStyle {
  mode: 'tty' | 'plain' | 'quiet';
  /** ANSI colours: only on a terminal, in tty mode, without NO_COLOR. */
  color: boolean;
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

interface Running {
  step: number;
  total: number;
  instruction: string;
  dependencies: boolean;
  started: number;
}

/** Shows a build's step events: the running step live (tty), each finished one as a line, the log. */
export class BuildProgress {
  private running: Running | undefined;
  private readonly style: ProgressStyle;
  /** Set in tty mode: the stream the live line is drawn on. */
  private readonly live: LiveStream | undefined;
  private readonly redrawMs: number;
  private timer: ReturnType<typeof setInterval> | undefined;
  private drawn = false;

  constructor(
    private readonly output: Output,
    private readonly now: () => Date,
    private readonly showLog: boolean,
    options: { style?: ProgressStyle; live?: LiveStream; redrawMs?: number } = {},
  ) {
    this.style = options.style ?? { mode: 'plain', color: false };
    // tty mode without a stream to draw on (output captured in memory) prints as plain does.
    this.live = this.style.mode === 'tty' ? options.live : undefined;
    this.redrawMs = options.redrawMs ?? 100;
  }

  readonly onEvent = (event: BuildEvent): void => {
    switch (event.type) {
      case 'step':
        this.stopLive();
        this.running = { ...event, started: this.now().getTime() };
        this.startLive();
        break;
      case 'cached':
        this.redraw();
        break;
      case 'log': {
        const line = this.showLog && this.style.mode !== 'quiet' ? logLine(event.text) : undefined;
        if (line !== undefined) this.line(line);
        break;
      }
      case 'finished':
        this.stopLive();
        this.running = undefined;
        if (this.style.mode !== 'quiet') this.line(stepLine(event.step, this.paint));
        break;
    }
  };

  /** Draws the live line again with the time so far (the timer calls it; tests may too). */
  redraw(): void {
    if (!this.live || !this.running) return;
    const s = this.running;
    const seconds = (this.now().getTime() - s.started) / 1000;
    const what = s.dependencies
      ? 'dependencies: installing…'
      : fit(printable(shortInstruction(s.instruction)), (this.live.columns ?? 0) - 22);
    const clock = this.paint('33', `${seconds.toFixed(1).padStart(5)}s`);
    this.live.write(`${CLEAR_LINE}  ${this.paint('2', `step ${s.step}/${s.total}`)} ${clock} ${what}`);
    this.drawn = true;
  }

  /** Stops the live line's clock: the build ended, failed or was stopped. */
  close(): void {
    this.stopLive();
  }

  private readonly paint: Paint = (code, text) =>
    this.style.color && this.live !== undefined ? `\u001b[${code}m${text}\u001b[0m` : text;

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
}

/** At most `width` characters (none cut when the width is unknown). */
function fit(text: string, width: number): string {
  return width > 0 && text.length > width ? `${text.slice(0, Math.max(1, width - 1))}…` : text;
}
