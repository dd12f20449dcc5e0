// The checks a build request passes before anything runs, the same for the command line and the
// library, each a usage error in the words of the command's options: a name the engine would read
// as something else, a malformed KEY=VALUE, options that do not go together.

import { parseImageReference } from '../engine/reference.js';
import { usageError } from '../errors.js';
import type { MakeOptions } from './request.js';

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The image to build must be a name the engine reads as written: [registry[:port]/]path[:tag]. */
export function checkImageName(image: string): void {
  const hint = 'image names are lower case, e.g. adult-income-lr-predict or registry:5000/team/model:1.0';
  const parsed = parseImageReference(image);
  if (!parsed.ok) throw usageError(`${JSON.stringify(image)} is not a valid image name: ${parsed.reason}`, hint);
  if (parsed.value.digest)
    throw usageError(
      `${JSON.stringify(image)} is not a valid image name: a digest names existing content, so a new image cannot be given one`,
      'give a tag instead, e.g. model:1.0',
    );
}

/** An existing image to push or pull: the reference grammar, a digest allowed. */
export function checkReference(ref: string, what: string): void {
  const parsed = parseImageReference(ref);
  if (!parsed.ok)
    throw usageError(
      `${what}: ${JSON.stringify(ref)} is not a valid image reference: ${parsed.reason}`,
      'e.g. registry.example.com:5000/team/model:1.0',
    );
}

/** `-e KEY=VALUE` as a key and a value on one line. */
export function envPair(pair: string): { key: string; value: string } {
  const eq = pair.indexOf('=');
  const key = eq > 0 ? pair.slice(0, eq) : '';
  if (!ENV_KEY.test(key)) throw usageError(`-e ${JSON.stringify(pair)} is not KEY=VALUE`, 'e.g. -e LOG_LEVEL=debug');
  const value = pair.slice(eq + 1);
  if (/[\r\n]/.test(value)) throw usageError(`-e ${key}: the value cannot span lines`);
  return { key, value };
}

/** Options of how to make the image that do not go together, or lack what they need. */
export function checkMakeOptions(make: MakeOptions): void {
  const { asDockerfile, digestFile } = make;
  if (asDockerfile !== undefined && asDockerfile.trim() === '')
    throw usageError('--as-dockerfile needs a folder', 'e.g. --as-dockerfile ./context');
  if (asDockerfile !== undefined && make.dryRun)
    throw usageError(
      '--as-dockerfile and --dry-run do not go together',
      '--as-dockerfile already builds nothing; it writes the context',
    );
  if (digestFile !== undefined && !make.push)
    throw usageError('--digest-file needs --push: an image has a registry digest only once pushed');
  if (digestFile === '') throw usageError('--digest-file needs a path');
  for (const ref of make.cacheFrom) checkReference(ref, '--cache-from');
}
