// Keeps two parts of dockerode from loading until they are used: the SSH transport (ssh2, for
// ssh:// engines) and the BuildKit session (gRPC and protobuf, for BuildKit builds). Loading them
// cost more than the rest of dockerode together, on every command that talks to an engine:
// without these stand-ins, a rebuild found up to date took 1.27× the wall time and 1.30× the CPU
// (0.32 s against 0.26 s, medians of 15 alternating runs on a 2-core machine). Called by the
// engine adapter only, before it loads dockerode.

import { createRequire, Module } from 'node:module';

const fromDockerode = createRequire(createRequire(import.meta.url).resolve('dockerode'));

/**
 * Puts a stand-in for the module `id` in require's cache (documented: entries may be added): a
 * function that loads the real module on its first call and forwards every call to it. Both
 * modules export a single function, which dockerode calls only for ssh:// hosts and BuildKit builds.
 */
function defer(id: string): void {
  const file = fromDockerode.resolve(id);
  if (fromDockerode.cache[file]) return;
  let real: ((...args: unknown[]) => unknown) | undefined;
  const standIn = new Module(file);
  standIn.filename = file;
  standIn.loaded = true;
  standIn.exports = function (this: unknown, ...args: unknown[]): unknown {
    if (!real) {
      delete fromDockerode.cache[file];
      real = fromDockerode(file) as (...args: unknown[]) => unknown;
    }
    return real.apply(this, args);
  };
  fromDockerode.cache[file] = standIn;
}

/** Puts the stand-ins in place; dockerode, loaded after, finds them instead of the real modules. */
export function deferDockerodeParts(): void {
  defer('docker-modem/lib/ssh.js');
  defer('dockerode/lib/session.js');
}
