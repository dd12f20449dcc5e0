// `cortex-s2i push <image>`: pushes an image already on the engine and prints repo@sha256:….

import { writeFile } from 'node:fs/promises';
import { ExitCode } from '../../errors.js';
import type { Command } from '../args.js';
import type { CommandContext } from '../context.js';
import { withEngine } from './engine-access.js';
import { pushTag } from './registry-access.js';

type PushCommand = Extract<Command, { name: 'push' }>;

export async function pushCommand(cmd: PushCommand, ctx: CommandContext): Promise<number> {
  return withEngine(ctx, async (engine) => {
    ctx.output.err(`pushing ${cmd.image}`);
    const pushed = await pushTag(ctx, engine, cmd.image);
    if (cmd.digestFile !== undefined) await writeFile(cmd.digestFile, pushed.digest);
    ctx.output.out(pushed.reference);
    return ExitCode.ok;
  });
}
