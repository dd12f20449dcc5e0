// Engine failures as the errors a user can act on: every cause the tool can name gets its own
// message and documented exit status, decided by error type and HTTP status, never message text.

import {
  badEngineAddress,
  CortexError,
  engineAnswerMalformed,
  engineRefused,
  engineStalled,
  engineUnreachable,
  interrupted,
} from '../errors.js';
import { EngineAddressError } from './connection.js';
import {
  BuildError,
  EngineAnswerError,
  EngineError,
  EngineInterruptedError,
  EngineTimeoutError,
  EngineUnreachableError,
} from './engine.js';

/** The user's error for an engine failure, or undefined when `err` is not one. */
export function engineUserError(err: unknown, signal?: AbortSignal): CortexError | undefined {
  if (err instanceof CortexError) return err;
  if (signal?.aborted || err instanceof EngineInterruptedError) return interrupted(signal?.reason);
  if (err instanceof EngineAddressError) return badEngineAddress(err.message, err.hint);
  if (err instanceof EngineUnreachableError) return engineUnreachable(err.address, err, err.reason);
  if (err instanceof EngineTimeoutError) return engineStalled(err.message, err.silence, err);
  if (err instanceof EngineAnswerError) return engineAnswerMalformed(err.message, err);
  if (err instanceof BuildError && err.malformed) return engineAnswerMalformed(err.message, err);
  if (err instanceof EngineError) return engineRefused(err.operation, err.statusCode, err.message, err);
  return undefined;
}
