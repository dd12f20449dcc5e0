// Reads a batch job submission (job.json, Cortex's shape with local paths) into a typed value:
// pure, returning every problem at once.

import { failed, ok, type Problem, type Result } from '../config/result.js';

export type JobInput =
  | { kind: 'item_list'; items: unknown[]; batchSize: number }
  /** NDJSON files: paths or glob patterns (`*`, `?`, `**`), filtered by includes/excludes. */
  | { kind: 'delimited_files'; paths: string[]; includes: string[]; excludes: string[]; batchSize: number }
  /** Files listed under paths, each item a path; filtered by includes/excludes. */
  | { kind: 'file_path_lister'; paths: string[]; includes: string[]; excludes: string[]; batchSize: number };

export interface Submission {
  workers: number;
  /** Overrides the API's config (the image's environment) in the predictor's `config`. */
  config: Record<string, unknown>;
  /** Seconds the whole job may take; undefined: no limit. */
  timeoutSeconds: number | undefined;
  /** Tries a batch gets before it goes to the dead-letter file (Cortex's SQS max_receive_count). */
  maxReceiveCount: number;
  input: JobInput;
}

const INPUTS = ['item_list', 'delimited_files', 'file_path_lister'] as const;
const KNOWN = new Set(['workers', 'config', 'timeout', 'max_receive_count', 'sqs_dead_letter_queue', ...INPUTS]);
/** Cortex's limits: at most this many workers per job. */
const MAX_WORKERS = 1000;

/** Parses the text of a submission; `file` names it in problems. */
export function parseSubmission(text: string, file: string): Result<Submission> {
  let raw: unknown;
  try {
    raw = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    return failed([{ file, message: `is not JSON: ${(err as Error).message}` }]);
  }
  if (!isObject(raw))
    return failed([
      {
        file,
        message: 'is not a JSON object',
        hint: 'e.g. {"workers": 2, "item_list": {"items": [1, 2, 3], "batch_size": 2}}',
      },
    ]);
  const problems: Problem[] = [];
  const problem = (message: string, hint?: string) => problems.push(hint ? { file, message, hint } : { file, message });

  for (const key of Object.keys(raw))
    if (!KNOWN.has(key)) problem(`unknown field ${JSON.stringify(key)}`, `known fields: ${[...KNOWN].join(', ')}`);

  const workers = raw.workers ?? 1;
  if (!isWhole(workers) || workers < 1 || workers > MAX_WORKERS)
    problem(`workers must be a whole number from 1 to ${MAX_WORKERS}, got ${JSON.stringify(raw.workers)}`);

  const config = raw.config ?? {};
  if (!isObject(config)) problem('config must be an object');

  let timeoutSeconds: number | undefined;
  if (raw.timeout !== undefined && raw.timeout !== null) {
    if (!isWhole(raw.timeout) || raw.timeout < 1)
      problem(`timeout must be a whole number of seconds, at least 1, got ${JSON.stringify(raw.timeout)}`);
    else timeoutSeconds = raw.timeout;
  }

  // Cortex put max_receive_count under sqs_dead_letter_queue; both places are read.
  const dlq = raw.sqs_dead_letter_queue;
  if (dlq !== undefined && !isObject(dlq)) problem('sqs_dead_letter_queue must be an object');
  const receive = raw.max_receive_count ?? (isObject(dlq) ? dlq.max_receive_count : undefined) ?? 1;
  if (!isWhole(receive) || receive < 1)
    problem(`max_receive_count must be a whole number, at least 1, got ${JSON.stringify(receive)}`);

  const given = INPUTS.filter((k) => raw[k] !== undefined);
  let input: JobInput | undefined;
  if (given.length !== 1) {
    problem(given.length === 0 ? `needs one of ${INPUTS.join(', ')}` : `has ${given.join(' and ')}; give exactly one`);
  } else {
    input = parseInput(given[0]!, raw[given[0]!], problem);
  }

  if (problems.length || !input) return failed(problems);
  return ok({
    workers: workers as number,
    config: config as Record<string, unknown>,
    timeoutSeconds,
    maxReceiveCount: receive as number,
    input,
  });
}

function parseInput(
  kind: (typeof INPUTS)[number],
  value: unknown,
  problem: (m: string, h?: string) => void,
): JobInput | undefined {
  if (!isObject(value)) {
    problem(`${kind} must be an object`);
    return undefined;
  }
  const batchSize = value.batch_size;
  const sizeOk = isWhole(batchSize) && batchSize >= 1;
  if (!sizeOk) problem(`${kind}.batch_size must be a whole number, at least 1, got ${JSON.stringify(batchSize)}`);
  if (kind === 'item_list') {
    if (!Array.isArray(value.items) || value.items.length === 0) problem('item_list.items must be a non-empty array');
    return sizeOk && Array.isArray(value.items)
      ? { kind, items: value.items, batchSize: batchSize as number }
      : undefined;
  }
  // Cortex named them s3_paths; here they are local paths, and either name is read.
  const paths = value.paths ?? value.s3_paths;
  const strings = (v: unknown, name: string): string[] | undefined => {
    if (v === undefined) return [];
    if (Array.isArray(v) && v.every((s) => typeof s === 'string' && s !== '')) return v as string[];
    problem(`${kind}.${name} must be an array of non-empty strings`);
    return undefined;
  };
  const list = strings(paths, 'paths');
  if (list && list.length === 0) problem(`${kind}.paths must list at least one local path or glob`);
  for (const p of list ?? [])
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(p))
      problem(
        `${kind}.paths: ${p} is not a local path`,
        'download the objects first (e.g. aws s3 sync) and list the local folder',
      );
  const includes = strings(value.includes, 'includes');
  const excludes = strings(value.excludes, 'excludes');
  if (!sizeOk || !list || !includes || !excludes) return undefined;
  return { kind, paths: list, includes, excludes, batchSize: batchSize as number };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isWhole(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}
