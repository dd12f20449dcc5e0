// The build's account of itself in words: the lines the command prints and the library hands to
// its caller's onEvent, written once so that the two say the same.

import { formatBytes, printable } from '../text.js';
import type { FinishedStep } from './environment.js';

/** Colours a part of a line (a terminal's); the plain account leaves it as it is. */
export type Paint = (code: string, text: string) => string;
const noPaint: Paint = (_code, text) => text;

/** An instruction cut to a line's worth. */
export function shortInstruction(instruction: string): string {
  return instruction.length > 100 ? `${instruction.slice(0, 100)}…` : instruction;
}

/** `  step 3/9   4.2s (cached) RUN …`: a finished step of the engine's build. */
export function stepLine(s: FinishedStep, paint: Paint = noPaint): string {
  const what = s.dependencies
    ? s.cached
      ? paint('32', 'dependencies: cached, skipped (setup.sh and requirements unchanged)')
      : 'dependencies: installed'
    : printable(shortInstruction(s.instruction));
  const cached = s.cached && !s.dependencies ? `${paint('32', '(cached)')} ` : '';
  return `  ${paint('2', `step ${s.step}/${s.total}`)} ${s.seconds.toFixed(1).padStart(5)}s ${cached}${what}`;
}

// The engine's own bookkeeping lines: steps are told with their durations instead.
const ENGINE_CHATTER = /^(Step \d+\/\d+ : | ---> |Removing intermediate container |Successfully (built|tagged) )/;

/** A line of the engine's build log as the account shows it, indented; undefined for the engine's bookkeeping. */
export function logLine(text: string): string | undefined {
  return ENGINE_CHATTER.test(text) ? undefined : `    | ${printable(text)}`;
}

/** What was sent to the engine. */
export function sentLine(bytesSent: number, sourceBytes: number): string {
  return `sent ${formatBytes(bytesSent)} to the engine (source files: ${formatBytes(sourceBytes)})`;
}

/** The result line of an image made (or found made): printed even when the build is quiet. */
export function madeLine(image: string, imageId: string, seconds: number, upToDate: boolean): string {
  return upToDate
    ? `${image} (${imageId}) is up to date, ${seconds.toFixed(1)}s`
    : `built ${image} (${imageId}) in ${seconds.toFixed(1)}s`;
}

/** A dry run's answer after its plan: the Dockerfile, indented. */
export function dryRunLines(dockerfile: string): string[] {
  return [
    'Dockerfile:',
    ...dockerfile
      .trimEnd()
      .split('\n')
      .map((line) => `  ${line}`),
    'dry run: nothing was sent to the engine',
  ];
}

/** What --as-dockerfile wrote, and the commands that build it. */
export function dockerfileFolderLines(folder: DockerfileFolder): string[] {
  const { given, image, written } = folder;
  const { files, bytes, links } = written;
  return [
    `wrote ${written.dir}: ${files} files (${formatBytes(bytes)})${links ? ` and ${links} link${links === 1 ? '' : 's'}` : ''}`,
    ...folder.entries.map((e) => `  ${e.name}${e.linkTarget !== undefined ? ` -> ${e.linkTarget}` : ''}`),
    'build it with either of:',
    `  docker build -t ${shellWord(image)} ${shellWord(given)}`,
    `  buildah bud --storage-driver vfs -t ${shellWord(image)} ${shellWord(given)}`,
  ];
}

export interface DockerfileFolder {
  /** The folder as the request gave it. */
  given: string;
  image: string;
  written: { dir: string; files: number; bytes: number; links: number };
  /** What the folder holds, sorted. */
  entries: Array<{ name: string; linkTarget?: string | undefined }>;
}

/** A word a POSIX shell reads back as it is: quoted only when it needs to be. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9@%+=:,./_-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
