// `cortex-s2i push <image>`: pushes an image already on the engine and prints repo@sha256:….

import { writeFile } from 'node:fs/promises';
import { checkReference } from '../../build/checks.js';
import { ExitCode, usageError } from '../../errors.js';
import { command, readOptions } from '../command.js';

export default command<{ image: string; digestFile: string | undefined }>({
  name: 'push',
  synopsis: ['push <image> [--digest-file PATH]'],
  summary: 'push an image on the engine to its registry; prints repo@sha256:…',
  usage: `Pushes an image on the engine to its registry and prints repo@sha256:… on stdout.
Credentials: DOCKER_CONFIG/config.json (default ~/.docker): auths, credsStore, credHelpers.

Options:
  --digest-file PATH    write the pushed digest (sha256:…) to PATH`,

  parse(args) {
    const { values, positionals } = readOptions('push', args, { 'digest-file': { type: 'string' } });
    if (positionals.length !== 1)
      throw usageError('push needs the image: cortex-s2i push <image> [--digest-file PATH]');
    if (values['digest-file'] === '') throw usageError('--digest-file needs a path');
    checkReference(positionals[0]!, 'push');
    return { image: positionals[0]!, digestFile: values['digest-file'] };
  },

  async run(args, ctx) {
    const { pushTag } = await import('../../build/registry.js');
    ctx.output.err(`pushing ${args.image}`);
    const pushed = await pushTag(
      { credentials: ctx.settings.credentials, signal: ctx.signal },
      await ctx.engine(),
      args.image,
    );
    if (args.digestFile !== undefined) await writeFile(args.digestFile, pushed.digest);
    ctx.output.out(pushed.reference);
    return ExitCode.ok;
  },
});
