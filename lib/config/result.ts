// The shape every config parser returns: a value, or every problem found, each with file and line.

export interface Problem {
  file: string;
  line?: number;
  message: string;
  hint?: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; errors: Problem[] };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function failed<T>(errors: Problem[]): Result<T> {
  return { ok: false, errors };
}
