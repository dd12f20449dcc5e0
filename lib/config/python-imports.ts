// Finds the import statements of a Python source file, with their lines, without running Python:
// the project's layout is chosen from what the code imports, and imports are checked before a
// build. @lezer/python parses real-world Python (strings, f-strings, continuation lines, syntax
// errors elsewhere in the file) far more reliably than a line scanner would.

import type { SyntaxNode } from '@lezer/common';
import { createRequire } from 'node:module';

// Loaded on the first parse, not with this module: a rebuild that finds every file's imports in
// its cache (lib/build/cache.ts) never needs the grammar, whose loading is a visible part of
// the command's start.
type PythonParser = (typeof import('@lezer/python'))['parser'];
let parser: PythonParser | undefined;
function pythonParser(): PythonParser {
  parser ??= (createRequire(import.meta.url)('@lezer/python') as { parser: PythonParser }).parser;
  return parser;
}

export interface PythonImport {
  /** The dotted module imported: `a.b` for `import a.b` and `from a.b import c`; '' for `from . import c`. */
  module: string;
  /** Leading dots of a relative import (`from ..a import b` is 2); 0 for an absolute import. */
  level: number;
  /** For `from m import a, b`: the names imported (`*` for a star import). */
  names: string[];
  line: number;
  /**
   * Inside `try:` with an `except` that catches ImportError (or ModuleNotFoundError, Exception, or
   * everything), or under `if TYPE_CHECKING:`: the code copes when the module is missing.
   */
  optional: boolean;
}

const CATCHES_IMPORT_ERROR = new Set(['ImportError', 'ModuleNotFoundError', 'Exception', 'BaseException']);

export function findImports(source: string): PythonImport[] {
  // Without the keyword there is no import statement to find: such a file (an empty __init__.py,
  // a module of constants) costs no parse, nor the grammar's loading.
  if (!source.includes('import')) return [];
  const tree = pythonParser().parse(source);
  const lineStarts = [0];
  for (let i = source.indexOf('\n'); i >= 0; i = source.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const lineOf = (offset: number) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const text = (n: SyntaxNode) => source.slice(n.from, n.to);

  const found: PythonImport[] = [];
  const cursor = tree.cursor();
  do {
    if (cursor.name !== 'ImportStatement') continue;
    const node = cursor.node;
    const optional = isOptional(node, text);
    const children: SyntaxNode[] = [];
    for (let c = node.firstChild; c; c = c.nextSibling) children.push(c);
    const line = lineOf(node.from);
    if (children[0]?.name === 'from') {
      const importAt = children.findIndex((c) => c.name === 'import');
      if (importAt < 0) continue;
      let level = 0;
      const parts: string[] = [];
      for (const c of children.slice(1, importAt)) {
        if (c.name === '.' || c.name === 'Ellipsis') {
          // Dots before the first name count levels; '...' is one token of three.
          if (parts.length === 0) level += text(c).length;
        } else if (c.name === 'VariableName') parts.push(text(c));
      }
      const names: string[] = [];
      for (let i = importAt + 1; i < children.length; i++) {
        const c = children[i]!;
        if (c.name === 'VariableName' && children[i - 1]?.name !== 'as') names.push(text(c));
        else if (c.name === '*') names.push('*');
      }
      found.push({ module: parts.join('.'), level, names, line, optional });
    } else {
      // import a.b as c, d: dotted names separated by commas, each with an optional alias.
      let parts: string[] = [];
      let aliased = false;
      const flush = () => {
        if (parts.length) found.push({ module: parts.join('.'), level: 0, names: [], line, optional });
        parts = [];
        aliased = false;
      };
      for (const c of children.slice(1)) {
        if (c.name === ',') flush();
        else if (c.name === 'as') aliased = true;
        else if (c.name === 'VariableName' && !aliased) parts.push(text(c));
      }
      flush();
    }
  } while (cursor.next());
  return found;
}

/** Whether an import sits in a try block that handles ImportError, or under `if TYPE_CHECKING`. */
function isOptional(node: SyntaxNode, text: (n: SyntaxNode) => string): boolean {
  for (let child = node, parent = node.parent; parent; child = parent, parent = parent.parent) {
    if (parent.name === 'TryStatement' && child.name === 'Body' && child.from === parent.getChild('Body')?.from) {
      if (handlesImportError(parent, text)) return true;
    }
    if (parent.name === 'IfStatement' && child.name === 'Body' && child.from === parent.getChild('Body')?.from) {
      const condition = text(parent).slice(2, text(parent).indexOf(':')).trim();
      if (/^(typing\.)?TYPE_CHECKING$/.test(condition)) return true;
    }
  }
  return false;
}

function handlesImportError(tryStatement: SyntaxNode, text: (n: SyntaxNode) => string): boolean {
  for (let c = tryStatement.firstChild; c; c = c.nextSibling) {
    if (c.name !== 'except') continue;
    // What follows `except` up to its body: nothing (a bare except), a name, or a tuple of names.
    const caught: string[] = [];
    let bare = true;
    for (let n = c.nextSibling; n && n.name !== 'Body'; n = n.nextSibling) {
      if (n.name === 'as') break;
      bare = false;
      caught.push(
        ...text(n)
          .split(/[^A-Za-z_.]+/)
          .filter(Boolean)
          .map((name) => name.split('.').pop()!),
      );
    }
    if (bare || caught.some((name) => CATCHES_IMPORT_ERROR.has(name))) return true;
  }
  return false;
}
