// Validation of the Python names that reach generated code and the runtime: validate, don't escape.

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

// Python 3.11's keyword.kwlist: none of these can name a module or a function.
const KEYWORDS = new Set([
  'False',
  'None',
  'True',
  'and',
  'as',
  'assert',
  'async',
  'await',
  'break',
  'class',
  'continue',
  'def',
  'del',
  'elif',
  'else',
  'except',
  'finally',
  'for',
  'from',
  'global',
  'if',
  'import',
  'in',
  'is',
  'lambda',
  'nonlocal',
  'not',
  'or',
  'pass',
  'raise',
  'return',
  'try',
  'while',
  'with',
  'yield',
]);

/** Why `name` cannot be a Python identifier, or undefined when it can. */
export function identifierProblem(name: string): string | undefined {
  if (!IDENTIFIER.test(name))
    return `${JSON.stringify(name)} is not a Python identifier (letters, digits, _; not starting with a digit)`;
  if (KEYWORDS.has(name)) return `${JSON.stringify(name)} is a Python keyword`;
  return undefined;
}

/** Why `name` cannot be a dotted module name such as `pkg.model.predict`, or undefined. */
export function moduleNameProblem(name: string): string | undefined {
  if (name === '') return 'the module name is empty';
  for (const part of name.split('.')) {
    const problem = identifierProblem(part);
    if (problem) return `module ${JSON.stringify(name)}: ${problem}`;
  }
  return undefined;
}
