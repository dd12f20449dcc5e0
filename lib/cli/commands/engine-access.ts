// Runs a command's engine work, turning engine failures (no engine, a stalled or refusing one,
// an interrupt) into the errors a user can act on.

import type { Engine } from '../../engine/engine.js';
import { engineUserError } from '../../engine/user-errors.js';
import type { CommandContext } from '../context.js';

export async function withEngine<T>(ctx: CommandContext, work: (engine: Engine) => Promise<T>): Promise<T> {
  try {
    // No separate ping: every engine call reports an engine that does not answer the same way.
    return await work(await ctx.engine());
  } catch (err) {
    throw engineUserError(err, ctx.signal) ?? err;
  }
}
