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
}

const NAME = /^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?\s*(.*)$/;
const SPECIFIER = /^(\s*(===|==|!=|~=|>=|<=|>|<)\s*[A-Za-z0-9.*+!_-]+\s*)(,\s*(===|==|!=|~=|>=|<=|>|<)\s*[A-Za-z0-9.*+!_-]+\s*)*$/;
// Options that read other files or local paths: only this one file reaches the dependency layer.
const FILE_OPTIONS = /^(-r|--requirement|-c|--constraint|-e|--editable)\b/;

export function normaliseName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

export function parseRequirements(text: string, file: string): Result<RequirementsFile> {
  const errors: Problem[] = [];
  const requirements: Requirement[] = [];
  const options: string[] = [];

  textLines(text).forEach((raw, i) => {
    const line = i + 1;
    const content = raw.replace(/(^|\s)#.*$/, '').trim();
    if (content === '') return;
    if (content.startsWith('-')) {
      if (FILE_OPTIONS.test(content)) {
        errors.push({
          file,
          line,
          message: `${content.split(/\s+/)[0]} refers to another file or a local path, which the dependency layer does not contain`,
          hint: 'list the requirements in this file directly',
        });
      } else {
        options.push(content);
      }
      return;
    }
    if (/^[a-z+]+:\/\//i.test(content) || content.startsWith('.') || content.startsWith('/')) {
      errors.push({ file, line, message: `${JSON.stringify(content)} is a URL or a path, not a requirement`, hint: 'use the form name @ URL' });
      return;
    }
    const m = NAME.exec(content);
    if (!m) {
      errors.push({ file, line, message: `${JSON.stringify(content)} does not start with a package name` });
      return;
    }
    const rest = (m[3] ?? '').replace(/;.*$/, '').trim();
    if (rest !== '' && !rest.startsWith('@') && !SPECIFIER.test(rest)) {
      errors.push({ file, line, message: `${JSON.stringify(content)}: ${JSON.stringify(rest)} is not a version specifier`, hint: 'e.g. scikit-learn>=1.0,<2' });
      return;
    }
    requirements.push({ name: normaliseName(m[1]!), text: content, line });
  });

  return errors.length ? failed(errors) : ok({ file, requirements, options });
}
