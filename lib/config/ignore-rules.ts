// The rules that keep files out of an image: the built-in ones and the user's .cortexignore files.

import ignore, { type Ignore } from 'ignore';
import { textLines } from '../text.js';
import type { Problem } from './result.js';

// Never in an image, whatever the user's files say: bytecode is rebuilt from source, dot files are
// tool state (.git, .s2i, .env, editor folders) and cortex.yaml is deployment config.
export const BUILT_IN_PATTERNS = ['.*', '*.pyc', '*.pyo', '*.pyd', '__pycache__/', 'cortex.yaml'];

export interface IgnoreFile {
  /** Folder the patterns are relative to, posix, relative to the project root ('' for the root). */
  base: string;
  file: string;
  text: string;
}

export const BUILT_IN = 'built-in rules';

export interface IgnoreRules {
  /** `path` is posix and relative to the project root; folders are asked with `dir` true. */
  ignores(path: string, dir: boolean): boolean;
  /** What leaves the path out: BUILT_IN or the .cortexignore file; undefined when nothing does. */
  reason(path: string, dir: boolean): string | undefined;
  files: string[];
  /** Lines that would silently match nothing, each with its file and line. */
  warnings: Problem[];
}

export function ignoreRules(files: IgnoreFile[]): IgnoreRules {
  const builtIn = ignore().add(BUILT_IN_PATTERNS);
  const warnings: Problem[] = [];
  const scoped: Array<{ base: string; file: string; rules: Ignore }> = files.map((f) => ({
    base: f.base,
    file: f.file,
    rules: ignore().add(textLines(f.text).map((line, i) => checkedPattern(line, f.file, i + 1, warnings))),
  }));
  const reason = (path: string, dir: boolean): string | undefined => {
    const asked = dir ? `${path}/` : path;
    if (builtIn.ignores(asked)) return BUILT_IN;
    return scoped.find(({ base, rules }) => {
      if (base === '') return rules.ignores(asked);
      if (!asked.startsWith(`${base}/`)) return false;
      const inner = asked.slice(base.length + 1);
      return inner !== '' && rules.ignores(inner);
    })?.file;
  };
  return { files: files.map((f) => f.file), reason, ignores: (path, dir) => reason(path, dir) !== undefined, warnings };
}

/**
 * A pattern as gitignore reads it, or as the user evidently meant it: `./x` is `/x` (x beside
 * this file). Patterns that can match nothing are warned about rather than dropped silently.
 */
function checkedPattern(line: string, file: string, lineNumber: number, warnings: Problem[]): string {
  const pattern = line.trim();
  if (pattern === '' || pattern.startsWith('#')) return line;
  const negated = pattern.startsWith('!') ? '!' : '';
  const body = pattern.slice(negated.length);
  if (body.startsWith('./')) {
    warnings.push({
      file,
      line: lineNumber,
      message: `${JSON.stringify(pattern)}: read as ${JSON.stringify(`${negated}/${body.slice(2)}`)} (gitignore patterns have no ./)`,
      hint: `write ${negated}/${body.slice(2)}`,
    });
    return `${negated}/${body.slice(2)}`;
  }
  if (body.startsWith('../') || body.split('/').includes('..')) {
    warnings.push({
      file,
      line: lineNumber,
      message: `${JSON.stringify(pattern)} matches nothing: a pattern cannot reach outside the folder of its .cortexignore`,
      hint: 'move the pattern to the .cortexignore of a folder above',
    });
    return '';
  }
  if ((body.match(/(?<!\\)\[/g) ?? []).length > (body.match(/(?<!\\)\]/g) ?? []).length) {
    warnings.push({
      file,
      line: lineNumber,
      message: `${JSON.stringify(pattern)} has a '[' that is never closed, so it matches nothing`,
      hint: 'close the character class, or escape the bracket as \\[',
    });
    return '';
  }
  return line;
}
