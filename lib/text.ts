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

/**
 * Text safe to print: control characters other than tab and line end (escape sequences, carriage
 * returns, bells, C1 controls) are shown as \xNN instead of acting on the terminal.
 */
export function printable(text: string): string {
  return text.replace(CONTROL_CHARACTERS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** Plain text for a log that is not a terminal: printable, and tabs as spaces too. */
export function plainText(text: string): string {
  return printable(text).replace(/\t/g, '    ');
}

/** Bytes as a person reads them: 512 B, 23.4 KiB, 1.2 MiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
