// The last step of a build: what it hands on once the image is made. With --push every tag goes
// to its registry and the digest to --digest-file; and the report, the document `--json` prints
// and the library resolves with.

import { writeFile } from 'node:fs/promises';
import type { Engine } from '../engine/engine.js';
import type { BuildEnvironment } from './environment.js';
import { pushTag, type PushedImage } from './registry.js';
import type { MakeOptions } from './request.js';
import type { MadeImage } from './ways/way.js';

export type { PushedImage } from './registry.js';

/** The JSON document --json prints: the shape docs/ci.md documents. */
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
  /** Present (true) when only the source layer was made, without a build (ways/source-layer.ts). */
  sourceOnly?: boolean;
  warnings: string[];
}

/** Pushes (with push), writes the digest file, and gives the report. */
export async function publish(
  env: BuildEnvironment,
  engine: Engine,
  options: Pick<MakeOptions, 'push' | 'digestFile'>,
  made: MadeImage,
): Promise<{ report: BuildReport; pushed: PushedImage[] }> {
  const tags = [made.image];
  const pushed: PushedImage[] = [];
  if (options.push) {
    for (const tag of tags) {
      env.report({ type: 'line', text: `pushing ${tag}` });
      const p = await pushTag(env, engine, tag);
      env.report({ type: 'line', text: `pushed ${p.reference}` });
      pushed.push(p);
    }
  }
  if (options.digestFile !== undefined && pushed[0]) await writeFile(options.digestFile, pushed[0].digest);

  const info = await engine.inspectImage(made.imageId);
  const report: BuildReport = {
    image: made.image,
    id: made.imageId,
    tags,
    ...(pushed[0] ? { digest: pushed[0].digest, pushed } : {}),
    size: info?.size,
    bytesSent: made.bytesSent,
    sourceBytes: made.sourceBytes,
    seconds: round(made.seconds),
    cacheFrom: made.cacheFrom,
    steps: made.steps.map((s) => ({
      step: s.step,
      instruction: s.instruction,
      seconds: round(s.seconds),
      cached: s.cached,
      dependencies: s.dependencies,
    })),
    ...(made.how === 'up to date' ? { upToDate: true } : {}),
    ...(made.how === 'source layer' ? { sourceOnly: true } : {}),
    warnings: made.warnings,
  };
  return { report, pushed };
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
