// Follows the engine's push and pull output: newline-delimited JSON inside an HTTP 200 response.
// As with builds, a failed push is reported *inside* the stream ({"error", "errorDetail"}), so a
// push succeeded only when the engine reported the digest the registry stored.

import type { Readable } from 'node:stream';
import { RegistryError, type PushResult } from './engine.js';

interface RegistryMessage {
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { Tag?: string; Digest?: string; Size?: number };
}

/** Resolves with the digest of a push, or (`expectDigest` false, for pulls) once the stream ends cleanly. */
export function followRegistryStream(
  stream: Readable,
  ref: string,
  expectDigest: boolean,
): Promise<PushResult | undefined> {
  return new Promise((resolve, reject) => {
    let pending = '';
    let result: PushResult | undefined;
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      stream.destroy();
      reject(err);
    };
    const handle = (raw: string) => {
      if (raw.trim() === '') return;
      let msg: RegistryMessage;
      try {
        msg = JSON.parse(raw) as RegistryMessage;
      } catch {
        fail(new RegistryError(`the engine sent a line that is not JSON: ${raw.slice(0, 200)}`, ref));
        return;
      }
      if (msg.error || msg.errorDetail) {
        fail(new RegistryError((msg.errorDetail?.message ?? msg.error ?? 'unknown error').trim(), ref));
        return;
      }
      if (msg.aux?.Digest) result = { digest: msg.aux.Digest, size: msg.aux.Size };
    };
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while (!settled && (nl = pending.indexOf('\n')) >= 0) {
        handle(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
    stream.on('end', () => {
      if (settled) return;
      handle(pending);
      if (settled) return;
      settled = true;
      if (result || !expectDigest) resolve(result);
      else reject(new RegistryError('the engine ended the push without reporting a digest', ref));
    });
    stream.on('close', () => fail(new RegistryError('the engine closed the stream before it finished', ref)));
    stream.on('error', (err) => fail(err instanceof RegistryError ? err : new RegistryError(err.message, ref)));
  });
}
