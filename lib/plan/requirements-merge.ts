// Merges the models' requirements into one file for the all image: a requirement listed alike by
// several models appears once, compatible ranges are combined, and conflicting ones are refused
// with both models and both lines named.

import { compare } from '../text.js';
import type { Problem } from '../config/result.js';
import type { Requirement, RequirementsFile } from '../config/requirements.js';
import { compatible } from './versions.js';

export interface ModelRequirements {
  model: string;
  file: RequirementsFile;
}

export interface MergedRequirement {
  text: string;
  models: string[];
}

export interface MergedRequirements {
  requirements: MergedRequirement[];
  options: string[];
}

interface Listed {
  model: string;
  file: string;
  req: Requirement;
  /** Name with extras as written; extras normalised, for comparing. */
  head: string;
  extras: string;
  specifier: string;
  marker: string;
}

export function mergeRequirements(sources: ModelRequirements[]): { value: MergedRequirements; errors: Problem[] } {
  const errors: Problem[] = [];
  const byName = new Map<string, Listed[]>();
  const options: string[] = [];
  for (const { model, file } of sources) {
    for (const option of file.options) if (!options.includes(option)) options.push(option);
    for (const req of file.requirements) {
      const listed = split(model, file.file, req);
      byName.set(req.name, [...(byName.get(req.name) ?? []), listed]);
    }
  }

  const requirements: MergedRequirement[] = [];
  for (const name of [...byName.keys()].sort(compare)) {
    const listed = byName.get(name)!;
    let conflict = false;
    for (let i = 0; i < listed.length && !conflict; i++) {
      for (let j = i + 1; j < listed.length && !conflict; j++) {
        const [a, b] = [listed[i]!, listed[j]!];
        const why = incompatibility(a, b);
        if (why) {
          conflict = true;
          errors.push({
            file: b.file,
            line: b.req.line,
            message: `${a.model} and ${b.model} need ${name} in ways that cannot both hold: ${JSON.stringify(a.req.text)} (${a.file}:${a.req.line}) and ${JSON.stringify(b.req.text)} (${b.file}:${b.req.line}); ${why}`,
            hint: 'agree on one version range for both models',
          });
        }
      }
    }
    if (conflict) continue;
    const clauses: string[] = [];
    for (const l of listed) {
      for (const c of l.specifier
        .split(',')
        .map((x) => x.replace(/\s/g, ''))
        .filter(Boolean))
        if (!clauses.includes(c)) clauses.push(c);
    }
    const first = listed[0]!;
    const text = first.specifier.startsWith('@')
      ? first.req.text
      : `${first.head}${clauses.join(',')}${first.marker ? `; ${first.marker}` : ''}`;
    requirements.push({ text, models: [...new Set(listed.map((l) => l.model))] });
  }
  return { value: { requirements, options }, errors };
}

function split(model: string, file: string, req: Requirement): Listed {
  const [beforeMarker, marker = ''] = req.text.split(';', 2) as [string, string?];
  const m = /^([A-Za-z0-9._-]+)\s*(\[[^\]]*\])?\s*(.*)$/.exec(beforeMarker.trim())!;
  const extras = (m[2] ?? '')
    .replace(/[[\]\s]/g, '')
    .split(',')
    .filter(Boolean)
    .map((e) => e.toLowerCase())
    .sort()
    .join(',');
  return {
    model,
    file,
    req,
    head: `${m[1]}${m[2] ?? ''}`.replace(/\s/g, ''),
    extras,
    specifier: m[3]!.trim(),
    marker: marker.trim(),
  };
}

function incompatibility(a: Listed, b: Listed): string | undefined {
  if (a.extras !== b.extras) return `different extras (${a.head} and ${b.head})`;
  if (a.marker !== b.marker) return 'different environment markers';
  const direct = (s: string) => s.startsWith('@');
  if (direct(a.specifier) || direct(b.specifier)) {
    return a.specifier === b.specifier ? undefined : 'a direct reference (name @ URL) must be the same in both';
  }
  return compatible(a.specifier, b.specifier) ? undefined : 'no version satisfies both';
}
