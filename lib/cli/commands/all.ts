// `cortex-s2i all <project>`: writes <project>/all/, the source of one image serving every model.

import { ExitCode, usageError } from '../../errors.js';
import { command, readOptions } from '../command.js';

export default command<{ project: string; models: string[] | undefined; force: boolean }>({
  name: 'all',
  synopsis: ['all <project> [--models a,b,c] [--force]'],
  summary: "write <project>/all/: one image's source serving every model's routes",
  usage: `Writes <project>/all/: one image's source serving every model's routes (ROUTES, a generated
predict.py, merged requirements, combined setup.sh, a Makefile). Build it with the daemon builder.
A file without the generator's header is kept; --force replaces a hand-written Makefile
and .s2i/environment.

Options:
  --models a,b,c        serve only these model folders (default: every one)
  --force               replace a hand-written all/Makefile and all/.s2i/environment`,

  parse(args) {
    const { values, positionals } = readOptions('all', args, {
      models: { type: 'string' },
      force: { type: 'boolean' },
    });
    if (positionals.length !== 1)
      throw usageError('all needs the project folder: cortex-s2i all <project> [--models a,b,c]');
    const models = values.models
      ?.split(',')
      .map((m) => m.trim())
      .filter(Boolean);
    return { project: positionals[0]!, models, force: values.force ?? false };
  },

  async run(args, ctx) {
    const { generateAll } = await import('../../generate/all.js');
    const done = await generateAll({ ...args, home: ctx.settings.home });
    for (const line of done.lines) ctx.output.out(line);
    for (const w of done.warnings) ctx.output.err(`warning: ${w}`);
    ctx.output.out(done.buildWith);
    return ExitCode.ok;
  },
});
