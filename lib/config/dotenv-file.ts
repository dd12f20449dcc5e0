// Validates a project's .env. Its values are credentials more often than not, so this returns the
// variable names only: no value read here can reach a plan, an image or a log.

import { parse as parseDotenv } from 'dotenv';
import { textLines } from '../text.js';
import { failed, ok, type Problem, type Result } from './result.js';

export interface DotenvSummary {
  file: string;
  keys: string[];
  /** Lines that dotenv and `docker run --env-file` read differently. */
  warnings: Problem[];
}

const ASSIGNMENT = /^\s*(export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=(.*)$/;

export function parseDotenvFile(text: string, file: string): Result<DotenvSummary> {
  const errors: Problem[] = [];
  const warnings: Problem[] = [];
  const lines = textLines(text);
  const keys: string[] = [];

  let openQuote: { quote: string; line: number } | undefined;
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (openQuote) {
      if (raw.includes(openQuote.quote)) openQuote = undefined;
      return;
    }
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const m = ASSIGNMENT.exec(raw);
    if (!m) {
      errors.push({
        file,
        line,
        message: 'expected KEY=value',
        hint: 'names are letters, digits and underscores; comments start with #',
      });
      return;
    }
    const [, exported, key, rest] = m as unknown as [string, string | undefined, string, string];
    keys.push(key);
    const value = rest.trim();
    const quote = value[0] === '"' || value[0] === "'" || value[0] === '`' ? value[0] : undefined;
    if (quote && value.indexOf(quote, 1) === -1) openQuote = { quote, line };
    // The generated Makefiles pass .env with `docker run --env-file`, which takes everything after
    // '=' literally: say so where that differs from what dotenv-aware tools would read.
    if (exported) {
      warnings.push({
        file,
        line,
        message: `${key}: 'export' is not understood by docker run --env-file`,
        hint: 'drop the export prefix',
      });
    } else if (quote) {
      warnings.push({
        file,
        line,
        message: `${key}: docker run --env-file keeps the quotes as part of the value`,
        hint: 'write the value without quotes',
      });
    }
  });
  if (openQuote) {
    errors.push({ file, line: openQuote.line, message: `the quoted value opened here is never closed` });
  }
  if (errors.length) return failed(errors);

  // dotenv is the reference reading of the file: any key it does not see was not a variable.
  const parsedKeys = Object.keys(parseDotenv(Buffer.from(text.replace(/^\uFEFF/, ''))));
  return ok({ file, keys: [...new Set([...keys.filter((k) => parsedKeys.includes(k))])], warnings });
}
