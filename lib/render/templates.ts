// Loads the handlebars templates shipped with the package, compiled once each.

import { readFileSync } from 'node:fs';
import Handlebars from 'handlebars';
import { packageFile } from '../package-root.js';

const compiled = new Map<string, HandlebarsTemplateDelegate>();

export function template(name: string): HandlebarsTemplateDelegate {
  let t = compiled.get(name);
  if (!t) {
    // noEscape: these are not HTML; every value reaching a template is validated before it is
    // rendered, and quoted by the helper meant for its target language where it needs quoting.
    t = handlebars.compile(readFileSync(packageFile('lib', 'render', 'templates', name), 'utf8'), {
      noEscape: true,
      strict: true,
    });
    compiled.set(name, t);
  }
  return t;
}

const handlebars = Handlebars.create();

/** A Dockerfile double-quoted word: backslash, quote and $ are escaped, nothing else is special. */
export function dockerfileQuote(value: string): string {
  if (/[\r\n]/.test(value)) throw new Error(`a Dockerfile value cannot span lines: ${JSON.stringify(value)}`);
  return `"${value.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

/** A Python string literal. JSON's escapes are valid in Python, and values are validated first. */
export function pythonString(value: string): string {
  return JSON.stringify(value);
}

handlebars.registerHelper('quote', (value: unknown) => dockerfileQuote(String(value)));
handlebars.registerHelper('py', (value: unknown) => pythonString(String(value)));
// Exec-form RUN takes a JSON array; the names in it are validated identifiers.
handlebars.registerHelper('json', (value: unknown) => JSON.stringify(String(value)));
handlebars.registerHelper('join', (items: unknown, separator: unknown) => (items as string[]).join(String(separator)));
