// Turns the image's import check (assemble --check-imports, run after the dependency step) into
// problems that name the file and line of each import, for a failed build and for warnings.

import { BuildError, type BuildEvent } from '../engine/engine.js';
import { buildFailedProblems } from '../errors.js';
import type { Problem } from '../config/result.js';
import type { BuildPlan } from '../plan/plan.js';

const MARKER = 'cortex-s2i import check:';

interface CheckResult {
  missing: string[];
  warnings: string[];
}

export class ImportCheckReport {
  private result: CheckResult | undefined;

  constructor(private readonly plan: BuildPlan) {}

  onEvent = (event: BuildEvent): void => {
    if (event.type === 'log') this.read(event.text);
  };

  /** Warnings for shared code's imports the image lacks (other models may be the ones that need them). */
  warnings(): Problem[] {
    return this.problems(this.result?.warnings ?? [], false);
  }

  /** The user's error for a build that failed at the import check, or undefined for any other failure. */
  failure(err: unknown): Error | undefined {
    // The check's line came through the build log before the step failed.
    if (err instanceof BuildError) for (const line of err.lastLines) this.read(line);
    const missing = this.result?.missing ?? [];
    if (!missing.length) return undefined;
    return buildFailedProblems(
      this.plan.image,
      `${missing.length} imported module${missing.length === 1 ? ' is' : 's are'} not in the image`,
      this.problems(missing, true),
    );
  }

  private read(text: string): void {
    const at = text.indexOf(MARKER);
    if (at < 0) return;
    try {
      this.result = JSON.parse(text.slice(at + MARKER.length)) as CheckResult;
    } catch {
      // A line that only looks like the check's is left to the build log.
    }
  }

  private problems(names: string[], strict: boolean): Problem[] {
    const requirements = this.plan.dependencies.requirements?.from.split('/').pop() ?? 'requirements.txt';
    return names.flatMap((name) =>
      (this.plan.importCheck.where[name] ?? [{ file: '?', line: 0 }]).map((w) => ({
        file: w.file,
        line: w.line,
        message: `imports ${name}, which is not installed in the image${strict ? '' : ' (shared code: a warning, in case other models are the ones that use it)'}`,
        hint: `add the package that provides ${name} to ${requirements}, or, if ${name} is your own code, it is outside what was sent (see the plan: --dry-run)`,
      })),
    );
  }
}
