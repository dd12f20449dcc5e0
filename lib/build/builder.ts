// What a builder image is, found by asking the engine: a bundled builder (its kind label), or an
// s2i builder image (its scripts-url label), which must not run as root unless the user allows it.

import type { Engine } from '../engine/engine.js';
import { CortexError, ExitCode, unknownBuilder } from '../errors.js';
import {
  builderKindOf,
  BUILDER_KIND_LABEL,
  S2I_DESTINATION_LABEL,
  S2I_SCRIPTS_URL_LABEL,
  type Builder,
} from '../plan/builders.js';

export async function inspectBuilder(engine: Engine, ref: string, allowRoot: boolean): Promise<Builder> {
  const info = await engine.inspectImage(ref);
  if (!info) throw unknownBuilder(ref);
  const kind = builderKindOf(info.labels[BUILDER_KIND_LABEL] ?? '');
  if (kind) return { style: 'bundled', image: ref, kind };
  const scriptsUrl = info.labels[S2I_SCRIPTS_URL_LABEL];
  if (!scriptsUrl?.startsWith('image://')) {
    throw new CortexError(`${ref} is not an s2i builder image: it has no ${S2I_SCRIPTS_URL_LABEL}=image://… label`, {
      exitCode: ExitCode.badInput,
      hint: 'use train or daemon, or a builder image that carries its s2i scripts',
    });
  }
  // s2i itself refuses builders that run as root unless told otherwise: their assemble script runs
  // the project's code with every privilege in the image.
  if (/^(|root|0)(:.*)?$/.test(info.user) && !allowRoot) {
    throw new CortexError(
      `${ref} runs as root (its USER is ${info.user === '' ? 'not set' : JSON.stringify(info.user)})`,
      {
        exitCode: ExitCode.badInput,
        hint: 'use a builder image that sets a non-root USER, or pass --allow-root if you trust it',
      },
    );
  }
  return {
    style: 's2i',
    image: ref,
    scriptsDir: scriptsUrl.slice('image://'.length),
    destination: info.labels[S2I_DESTINATION_LABEL] ?? '/tmp',
    user: info.user === '' ? undefined : info.user,
  };
}
