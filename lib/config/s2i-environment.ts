// Parses a model's .s2i/environment: KEY=VALUE lines as s2i reads them, every bad line reported.

import { unsafe as decodeIniValue } from 'ini';
import { textLines, truncate } from '../text.js';
import { failed, ok, type Problem, type Result } from './result.js';

export interface EnvironmentEntry {
  key: string;
  value: string;
  line: number;
}

export interface S2iEnvironment {
  file: string;
  entries: EnvironmentEntry[];
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseS2iEnvironment(text: string, file: string): Result<S2iEnvironment> {
  const { environment, errors } = scanS2iEnvironment(text, file);
  return errors.length ? failed(errors) : ok(environment);
}

/** The well-formed entries and the problems of the others, so later checks can still run. */
export function scanS2iEnvironment(text: string, file: string): { environment: S2iEnvironment; errors: Problem[] } {
  const entries: EnvironmentEntry[] = [];
  const errors: Problem[] = [];
  const firstLine = new Map<string, number>();

  textLines(text).forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const eq = trimmed.indexOf('=');
    if (eq <= 0) {
      errors.push({ file, line, message: `expected KEY=VALUE, found ${JSON.stringify(truncate(trimmed))}` });
      return;
    }
    const key = trimmed.slice(0, eq).trim();
    if (!KEY.test(key)) {
      errors.push({
        file,
        line,
        message: `${JSON.stringify(key)} is not a valid variable name`,
        hint: 'names are letters, digits and underscores, not starting with a digit',
      });
      return;
    }
    const seen = firstLine.get(key);
    if (seen !== undefined) {
      errors.push({
        file,
        line,
        message: `${key} is set again (first set on line ${seen})`,
        hint: 'keep one of the two lines',
      });
      return;
    }
    firstLine.set(key, line);
    const value = decodeValue(trimmed.slice(eq + 1).trim());
    // A Dockerfile ENV value is one line, and a process environment cannot hold NUL at all.
    if (/[\r\n\0]/.test(value)) {
      errors.push({
        file,
        line,
        message: `the value of ${key} holds a ${value.includes('\0') ? 'NUL character' : 'line break'}, which an image's environment cannot carry`,
        hint: 'put it on one line, without escapes for control characters',
      });
      return;
    }
    entries.push({ key, value, line });
  });

  return { environment: { file, entries }, errors };
}

// s2i takes an unquoted value literally (a '#' inside it is part of the value), so only a fully
// quoted value is decoded, the way ini files quote values.
function decodeValue(value: string): string {
  const quoted = value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0];
  return quoted ? String(decodeIniValue(value)) : value;
}
