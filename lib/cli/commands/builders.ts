// `cortex-s2i builders`: builds the bundled train and daemon builder images on a Python base.

import { ExitCode, usageError } from '../../errors.js';
import { command, readOptions } from '../command.js';
import { buildEnvironment } from '../context.js';
import { BuildProgress } from '../progress.js';

export default command<{ base: string | undefined }>({
  name: 'builders',
  synopsis: ['builders [--base IMAGE]'],
  summary: 'build the bundled train and daemon builder images',
  usage: `Builds the bundled train and daemon builder images (<repo>/builder-<kind>:<version>, the
repository from CORTEX_S2I_BUILDER_REPO) on a Python base image.

Options:
  --base IMAGE          the base image (default: python:3.11-slim if the engine has it, else
                        the locally bootstrapped cortex-s2i/python-base:bookworm)`,

  parse(args) {
    const { values, positionals } = readOptions('builders', args, { base: { type: 'string' } });
    if (positionals.length) throw usageError(`builders takes no arguments, got ${positionals.join(' ')}`);
    return { base: values.base };
  },

  async run(args, ctx) {
    const { buildBuilderImages } = await import('../../build/builder-images.js');
    const { output, settings } = ctx;
    // Step lines only: the builder images' own log says nothing a user of cortex-s2i acts on.
    const progress = new BuildProgress(output, () => ctx.now(), false);
    try {
      await buildBuilderImages(
        buildEnvironment(ctx, (event) => {
          if (event.type === 'line' || event.type === 'result') output.out(event.text);
          else if (event.type === 'warning') output.err(`warning: ${event.text}`);
          else progress.onEvent(event);
        }),
        { base: args.base, repo: settings.builderRepo },
      );
    } finally {
      progress.close();
    }
    return ExitCode.ok;
  },
});
