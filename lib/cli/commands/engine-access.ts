// Runs a command's engine work, turning "no engine answers" into the error a user can act on.

import { engineUnreachable } from '../../errors.js';
import { EngineUnreachableError, type Engine } from '../../engine/engine.js';
import type { CommandContext } from '../context.js';

export async function withEngine<T>(ctx: CommandContext, work: (engine: Engine) => Promise<T>): Promise<T> {
  try {
    // No separate ping: every engine call reports an engine that does not answer the same way.
    return await work(await ctx.engine());
  } catch (err) {
    if (err instanceof EngineUnreachableError) throw engineUnreachable(err.address, err);
    throw err;
  }
}
