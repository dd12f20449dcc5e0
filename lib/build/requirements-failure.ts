// Turns pip's failure in the dependency step into problems on the lines of the requirements file:
// `requirements.txt:3: scikit-learn==9.9: pip found no such version`, and says when pip had no
// package index at all (offline), which is the usual reason on a machine without internet.

import path from 'node:path';
import type { RequirementsFile } from '../config/requirements.js';
import { normaliseName } from '../config/requirements.js';
import type { Problem } from '../config/result.js';
import { buildFailedProblems, CortexError } from '../errors.js';

const NOT_FOUND = /No matching distribution found for (\S+)/;
const NO_INDEX =
  /Failed to establish a new connection|Temporary failure in name resolution|Network is unreachable|Could not fetch URL|connection broken by/i;

/** The user's error for a build whose dependency step pip failed, or undefined for any other failure. */
export function requirementsFailure(
  image: string,
  err: unknown,
  requirements: RequirementsFile | undefined,
  logLines: string[],
): CortexError | undefined {
  if (!requirements || !(err instanceof CortexError)) return undefined;
  const offline = logLines.some((l) => NO_INDEX.test(l));
  const problems: Problem[] = [];
  for (const line of logLines) {
    const m = NOT_FOUND.exec(line);
    if (!m) continue;
    const name = normaliseName(m[1]!.split(/[<>=!~;[\s]/)[0]!);
    const requirement = requirements.requirements.find((r) => r.name === name);
    if (!requirement || problems.some((p) => p.line === requirement.line)) continue;
    problems.push({
      file: requirements.file,
      line: requirement.line,
      message: `${requirement.text}: pip found no version to install (pip: ${m[0]})`,
      hint: offline
        ? `pip had no package index: it could not reach one, so only what the base image already has can be installed; pin a version the base image has, or give pip an index it can reach (--index-url in ${path.basename(requirements.file)})`
        : 'check the name and the version: pip found no release of it that fits',
    });
  }
  if (!problems.length) return undefined;
  return buildFailedProblems(image, 'pip could not install the requirements', problems);
}
