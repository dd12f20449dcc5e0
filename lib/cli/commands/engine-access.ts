// Runs a command's engine work, turning "no engine answers" into the error a user can act on.

import { engineUnreachable } from '../../errors.js';
import { EngineUnreachableError, type Engine } from '../../engine/engine.js';
import type { CommandContext } from '../context.js';

export async function withEngine<T>(ctx: CommandContext, work: (engine: Engine) => Promise<T>): Promise<T> {
  try {
    const engine = await ctx.engine();
    await engine.ping();
    return await work(engine);
  } catch (err) {
    if (err instanceof EngineUnreachableError) throw engineUnreachable(err.address, err);
    throw err;
  }
}
