// Reads a pip requirements file far enough to refuse what cannot work inside a dependency layer
// that holds this one file, and to name each requirement for later merging; pip does the rest.

import { textLines } from '../text.js';
import { failed, ok, type Problem, type Result } from './result.js';

export interface Requirement {
  /** Normalised distribution name (PEP 503): lower case, runs of -_. as one '-'. */
  name: string;
  /** The requirement as written, comments stripped. */
  text: string;
  line: number;
}

export interface RequirementsFile {
  file: string;
  requirements: Requirement[];
  /** Option lines such as --index-url, kept in order. */
  options: string[];
  /** The file as read. */
  text: string;
  /**
   * The file with every option line that carries credentials (a URL with user:password@ or
   * token@) replaced by a comment, byte for byte the same otherwise and line for line.
   */
  withoutCredentials: string;
  /** The option lines that carry credentials, by line number. */
  credentialLines: number[];
}

// A URL's user information, with or without a password: https://user:token@host, https://token@host.
const USERINFO = /([a-z][a-z0-9+.-]*:\/\/)([^/\s@]+)@/gi;

/** The option with each URL's password (or lone token) shown as ***: https://user:***@host/simple. */
export function redactCredentials(option: string): string {
  return option.replace(USERINFO, (_m, scheme: string, info: string) => {
    const colon = info.indexOf(':');
    return `${scheme}${colon >= 0 ? `${info.slice(0, colon)}:***` : '***'}@`;
  });
}

function hasCredentials(option: string): boolean {
  USERINFO.lastIndex = 0;
  const found = USERINFO.test(option);
  USERINFO.lastIndex = 0;
  return found;
}

const NAME = /^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?\s*(.*)$/;
const SPECIFIER =
  /^(\s*(===|==|!=|~=|>=|<=|>|<)\s*[A-Za-z0-9.*+!_-]+\s*)(,\s*(===|==|!=|~=|>=|<=|>|<)\s*[A-Za-z0-9.*+!_-]+\s*)*$/;
// Options that read other files or local paths: only this one file reaches the dependency layer.
// Short options take their value with or without a space (-rfile, -e git+...), long ones with a
// space or '='.
const FILE_OPTIONS = /^(-[rce]|--(requirement|constraint|editable)(?=[\s=]|$))/;

export function normaliseName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

export function parseRequirements(text: string, file: string): Result<RequirementsFile> {
  const errors: Problem[] = [];
  const requirements: Requirement[] = [];
  const options: string[] = [];
  const credentialLines: number[] = [];

  textLines(text).forEach((raw, i) => {
    const line = i + 1;
    const content = raw.replace(/(^|\s)#.*$/, '').trim();
    if (content === '') return;
    if (content.startsWith('-')) {
      if (FILE_OPTIONS.test(content)) {
        errors.push({
          file,
          line,
          message: `${FILE_OPTIONS.exec(content)![1]} refers to another file or a local path, which the dependency layer does not contain`,
          hint: 'list the requirements in this file directly',
        });
      } else {
        options.push(content);
        if (hasCredentials(content)) credentialLines.push(line);
      }
      return;
    }
    if (/^[a-z+]+:\/\//i.test(content) || content.startsWith('.') || content.startsWith('/')) {
      errors.push({
        file,
        line,
        message: `${JSON.stringify(content)} is a URL or a path, not a requirement`,
        hint: 'use the form name @ URL',
      });
      return;
    }
    const m = NAME.exec(content);
    if (!m) {
      errors.push({ file, line, message: `${JSON.stringify(content)} does not start with a package name` });
      return;
    }
    const rest = (m[3] ?? '').replace(/;.*$/, '').trim();
    if (rest !== '' && !rest.startsWith('@') && !SPECIFIER.test(rest)) {
      errors.push({
        file,
        line,
        message: `${JSON.stringify(content)}: ${JSON.stringify(rest)} is not a version specifier`,
        hint: 'e.g. scikit-learn>=1.0,<2',
      });
      return;
    }
    requirements.push({ name: normaliseName(m[1]!), text: content, line });
  });

  if (errors.length) return failed(errors);
  // Split as textLines does (on \n, a \r before it kept in place), so line numbers agree.
  const lines = text.split('\n');
  for (const n of credentialLines) {
    lines[n - 1] =
      `# (an index option with credentials: given to pip in a build stage of its own)${lines[n - 1]!.endsWith('\r') ? '\r' : ''}`;
  }
  return ok({ file, requirements, options, text, withoutCredentials: lines.join('\n'), credentialLines });
}
