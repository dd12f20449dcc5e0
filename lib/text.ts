// Small text and path helpers that every layer uses, kept in one place so no layer imports
// another just for them.

import path from 'node:path';

/** Byte-order comparison, so that file order never depends on the locale. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A platform path with posix separators: paths inside images and contexts are always posix. */
export function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

/** Splits text into lines, tolerating a UTF-8 byte-order mark and CRLF line ends. */
export function textLines(text: string): string[] {
  return text.replace(/^\uFEFF/, '').split(/\r?\n/);
}

export function truncate(s: string, max = 60): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
