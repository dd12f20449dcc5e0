// The way that makes nothing: a rebuild of what the build cache says was built from the same
// inputs. When the folder shows the inputs recorded, the image is still on the engine under its
// name, and the builder is the image it was built on, a build would only make the same image
// again. So the build reads no source file, parses nothing, renders nothing and sends nothing: it
// looks at the tree and asks the engine twice. Asked before the project is read.

import { extendScan } from '../../config/scan.js';
import path from 'node:path';
import { madeLine } from '../account.js';
import { sameInputs } from '../cache.js';
import type { Looked, Made, Way } from './way.js';

export const upToDate: Way<Looked, { imageId: string; why?: string }> = {
  name: 'up to date',

  async can(build) {
    const { cache, record, firstLook } = build;
    if (!cache || !record || !firstLook || build.request.make.noCache) return undefined;
    const full = await extendScan(firstLook, {
      walk: record.walked.map((rel) => path.resolve(firstLook.modelDir, rel)),
      read: [],
    }).catch(() => undefined);
    if (!full || !sameInputs(record, full, await build.identity())) return undefined;
    const engine = await build.engine();
    const [image, builder] = await Promise.all([
      engine.inspectImage(build.request.image.name),
      engine.inspectImage(build.builderImage),
    ]);
    return image?.id === record.id && builder?.id === record.builder ? { imageId: record.id } : undefined;
  },

  async make(build, found) {
    return answerUpToDate(build, found.imageId);
  },
};

/** The answer of a build whose image is what it would make (`why`, when not the cache's reason). */
export function answerUpToDate(build: Looked, imageId: string, why?: string): Made {
  const { env, request } = build;
  const image = request.image.name;
  const seconds = (env.now().getTime() - build.started) / 1000;
  env.report({
    type: 'line',
    text: `${why ?? `nothing changed since ${image} was built: no file, option, commit or builder`} (to build it anyway: --no-cache)`,
  });
  env.report({ type: 'result', text: madeLine(image, imageId, seconds, true) });
  return {
    kind: 'image',
    way: upToDate.name,
    how: 'up to date',
    image,
    imageId,
    bytesSent: 0,
    sourceBytes: 0,
    seconds,
    steps: [],
    cacheFrom: [],
    warnings: [],
  };
}
