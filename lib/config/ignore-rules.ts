// The rules that keep files out of an image: the built-in ones and the user's .cortexignore files.

import ignore, { type Ignore } from 'ignore';
import { textLines } from '../text.js';

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
}

export function ignoreRules(files: IgnoreFile[]): IgnoreRules {
  const builtIn = ignore().add(BUILT_IN_PATTERNS);
  const scoped: Array<{ base: string; file: string; rules: Ignore }> = files.map((f) => ({
    base: f.base,
    file: f.file,
    rules: ignore().add(textLines(f.text)),
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
  return { files: files.map((f) => f.file), reason, ignores: (path, dir) => reason(path, dir) !== undefined };
}
