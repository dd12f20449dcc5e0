// `cortex-s2i builders`: builds the bundled train and daemon builder images on a Python base.

import { ignoreRules } from '../../config/ignore-rules.js';
import { listFiles } from '../../config/project.js';
import { packContext, type ContextEntry } from '../../context/tar.js';
import { baseImageMissing, ExitCode } from '../../errors.js';
import { asUserError } from '../../engine/execute-plan.js';
import { bundledBuilderImage, type BuilderKind } from '../../plan/builders.js';
import { packageRoot } from '../../package-root.js';
import type { Command } from '../args.js';
import type { CommandContext } from '../context.js';
import { BuildProgress } from '../progress.js';
import { withEngine } from './engine-access.js';

type BuildersCommand = Extract<Command, { name: 'builders' }>;

/** Bases tried in order: the official image where it exists, else the one bootstrapped offline. */
export const BASE_CANDIDATES = ['python:3.11-slim', 'cortex-s2i/python-base:bookworm'];
const KINDS: BuilderKind[] = ['train', 'daemon'];
/** The folder of the package that holds everything the builder images are made of. */
const BUILDER_IMAGE_DIR = 'builder-image';

export async function buildersCommand(cmd: BuildersCommand, ctx: CommandContext): Promise<number> {
  const root = packageRoot();
  // The builder context: builder-image/, the Dockerfile and the s2i scripts and runtime it copies
  // in; the runtime's tests stay out.
  const files = await listFiles(
    root,
    BUILDER_IMAGE_DIR,
    ignoreRules([{ base: BUILDER_IMAGE_DIR, file: 'builders.ts', text: 'runtime/tests/\n' }]),
  );
  const entries: ContextEntry[] = files.map((f) => ({
    name: f.path.slice(BUILDER_IMAGE_DIR.length + 1),
    from: f.abs,
    size: f.size,
    executable: f.executable,
  }));

  return withEngine(ctx, async (engine) => {
    let base = cmd.base;
    if (!base) {
      for (const candidate of BASE_CANDIDATES) {
        if (await engine.inspectImage(candidate)) {
          base = candidate;
          break;
        }
      }
    } else if (!(await engine.inspectImage(base))) {
      throw baseImageMissing([base]);
    }
    if (!base) throw baseImageMissing(BASE_CANDIDATES);

    for (const kind of KINDS) {
      const tag = bundledBuilderImage(kind, ctx.toolVersion, ctx.builderRepo);
      ctx.output.out(`building builder ${tag} on ${base}`);
      const progress = new BuildProgress(ctx.output, () => ctx.now(), false, undefined);
      const context = packContext(entries);
      try {
        const { imageId } = await engine.build({
          context: context.stream,
          target: kind,
          buildArgs: { BASE_IMAGE: base, CORTEX_S2I_VERSION: ctx.toolVersion },
          signal: ctx.signal,
          onEvent: progress.onEvent,
        });
        progress.finishStep();
        await engine.tagImage(imageId, tag);
        ctx.output.out(`built ${tag} (${imageId})`);
      } catch (err) {
        throw asUserError(err, tag, ctx.signal, context);
      }
    }
    return ExitCode.ok;
  });
}
