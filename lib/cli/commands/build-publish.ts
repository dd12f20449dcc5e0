// What a build does around the engine's work for CI: the cache images it brings in (--cache-from),
// and what it hands on once built: the pushed digests (--push, --digest-file), one JSON document
// (--json) or only the image reference (-q) on stdout, with every log line on stderr.

import { writeFile } from 'node:fs/promises';
import type { Engine } from '../../engine/engine.js';
import type { Command } from '../args.js';
import type { CommandContext, Output } from '../context.js';
import type { PushedImage } from './registry-access.js';

type BuildCommand = Extract<Command, { name: 'build' }>;

/**
 * Where a build's human-readable lines go: stdout as always, but stderr when stdout carries a
 * result (-q, --json), so that `$(cortex-s2i build -q …)` and `| jq` read only that.
 */
export function buildLog(cmd: BuildCommand, output: Output): Output {
  return cmd.quiet || cmd.json ? { out: (l) => output.err(l), err: (l) => output.err(l) } : output;
}

/**
 * The images the engine may take cached steps from: each --cache-from image, pulled when it is not
 * on the engine, and the image's own previous build when there is one (with cache sources given,
 * the engine takes cached steps only from images descending from them). An image that cannot be
 * pulled is a warning: a pipeline's first run has no earlier build to reuse.
 */
export async function prepareCacheFrom(
  ctx: CommandContext,
  engine: Engine,
  cmd: BuildCommand,
  image: string,
  log: Output,
): Promise<{ sources: string[]; warnings: string[] }> {
  const sources: string[] = [];
  const warnings: string[] = [];
  if (!cmd.cacheFrom?.length) return { sources, warnings };
  // Registry access (credentials, helpers, TLS) loads only for the builds that need it.
  const { pullImage } = await import('./registry-access.js');
  for (const ref of cmd.cacheFrom) {
    if (!(await engine.inspectImage(ref))) {
      log.out(`pulling ${ref} for its cached layers`);
      try {
        await pullImage(ctx, engine, ref);
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        warnings.push(`--cache-from ${ref}: not used (${(err as Error).message})`);
        log.err(`warning: ${warnings.at(-1)!}`);
        continue;
      }
    }
    sources.push(ref);
  }
  if (!sources.includes(image) && (await engine.inspectImage(image))) sources.push(image);
  return { sources, warnings };
}

export interface BuiltImage {
  image: string;
  /** The source files' bytes in what was sent (0 when nothing was: the image was up to date). */
  sourceBytes: number;
  /** The plan's warnings, as printed. */
  planWarnings: string[];
  imageId: string;
  bytesSent: number;
  seconds: number;
  steps: Array<{ step: number; seconds: number; cached: boolean; instruction: string }>;
  dependencyStep: number | undefined;
  cacheFrom: string[];
  /** Warnings of the build itself (a cache image not pulled), besides the plan's. */
  warnings: string[];
  /** Nothing was built: the image was already built from the same inputs (up-to-date.ts). */
  upToDate?: boolean;
  /** Only the source layer was made, on the image the last build put the source on (source-rebuild.ts). */
  sourceOnly?: boolean;
}

/** The JSON document --json prints: the shape the README documents. */
export interface BuildReport {
  image: string;
  id: string;
  tags: string[];
  digest?: string;
  pushed?: PushedImage[];
  size: number | undefined;
  bytesSent: number;
  sourceBytes: number;
  seconds: number;
  cacheFrom: string[];
  steps: Array<{ step: number; instruction: string; seconds: number; cached: boolean; dependencies: boolean }>;
  /** Present (true) when the image was already built from the same inputs and nothing was sent. */
  upToDate?: boolean;
  /** Present (true) when only the source layer was made, without a build (source-rebuild.ts). */
  sourceOnly?: boolean;
  warnings: string[];
}

/** Pushes (with --push), writes the digest file, and gives the report --json prints. */
export async function publishBuild(
  ctx: CommandContext,
  engine: Engine,
  cmd: BuildCommand,
  built: BuiltImage,
  log: Output,
): Promise<{ kind: 'built'; report: BuildReport; pushed: PushedImage[] }> {
  const tags = [built.image];
  const pushed: PushedImage[] = [];
  if (cmd.push) {
    const { pushTag } = await import('./registry-access.js');
    for (const tag of tags) {
      log.out(`pushing ${tag}`);
      const p = await pushTag(ctx, engine, tag);
      log.out(`pushed ${p.reference}`);
      pushed.push(p);
    }
  }
  if (cmd.digestFile !== undefined && pushed[0]) await writeFile(cmd.digestFile, pushed[0].digest);

  const info = await engine.inspectImage(built.imageId);
  const report: BuildReport = {
    image: built.image,
    id: built.imageId,
    tags,
    ...(pushed[0] ? { digest: pushed[0].digest, pushed } : {}),
    size: info?.size,
    bytesSent: built.bytesSent,
    sourceBytes: built.sourceBytes,
    seconds: round(built.seconds),
    cacheFrom: built.cacheFrom,
    steps: built.steps.map((s) => ({
      step: s.step,
      instruction: s.instruction,
      seconds: round(s.seconds),
      cached: s.cached,
      dependencies: s.step === built.dependencyStep,
    })),
    ...(built.upToDate ? { upToDate: true } : {}),
    ...(built.sourceOnly ? { sourceOnly: true } : {}),
    warnings: [...built.planWarnings, ...built.warnings],
  };
  return { kind: 'built', report, pushed };
}

/** Prints on stdout what the options ask for: the JSON document, the reference alone, or the pinned references. */
export function printResult(ctx: CommandContext, cmd: BuildCommand, report: BuildReport, pushed: PushedImage[]): void {
  if (cmd.json) {
    ctx.output.out(JSON.stringify(report, null, 2));
  } else if (cmd.quiet) {
    ctx.output.out(pushed[0]?.reference ?? report.image);
  } else {
    // The pinned references alone on their lines, last: what `tail -n 1` hands to the next step.
    for (const p of pushed) ctx.output.out(p.reference);
  }
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
