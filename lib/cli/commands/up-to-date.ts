// A rebuild with nothing changed answers without building. The build cache (build-cache.ts)
// remembers, per image, the inputs it was built from; when the folder shows the same inputs, the
// image is still on the engine under its name, and the builder is the image it was built on, the
// build would only make the same image again. So the command reads no source file, parses
// nothing, renders nothing and sends nothing: it looks at the tree and asks the engine twice.

import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inputsDigest, readBeyondWalked, relative, walkedBeyondModel } from '../../config/inputs.js';
import { extendScan, scanModel, type ProjectSnapshot } from '../../config/scan.js';
import type { Engine } from '../../engine/engine.js';
import type { Command } from '../args.js';
import type { BuildCache, BuildRecord, SourceBase } from '../build-cache.js';
import type { CommandContext } from '../context.js';

type BuildCommand = Extract<Command, { name: 'build' }>;

/**
 * Everything besides the tree that shapes the image: the tool (its version, and its own files'
 * time, so that a changed cortex-s2i never trusts what an older one built), the options, the
 * builder by name, the commit the labels name (git.ts revisionStamp), and SOURCE_DATE_EPOCH.
 */
export async function buildIdentity(
  cmd: BuildCommand,
  ctx: CommandContext,
  builderRef: string,
  revision: string,
): Promise<unknown> {
  const tool = await stat(fileURLToPath(import.meta.url)).then(
    (s) => s.mtimeMs,
    () => 0,
  );
  return {
    tool: [ctx.toolVersion, tool],
    builder: builderRef,
    project: cmd.project === undefined ? null : path.resolve(cmd.project),
    env: cmd.env,
    api: cmd.api ?? null,
    allowRoot: cmd.allowRoot,
    epoch: ctx.sourceDateEpoch ?? null,
    revision,
  };
}

/** The first look at the model, and the rest of the tree as the recorded build walked it. */
export async function snapshotAsRecorded(
  modelDir: string,
  ctx: CommandContext,
  record: BuildRecord,
): Promise<{ first: ProjectSnapshot; full: ProjectSnapshot }> {
  const first = await scanModel(modelDir, ctx.home === undefined ? {} : { home: ctx.home });
  const full = await extendScan(first, { walk: record.walked.map((rel) => path.resolve(modelDir, rel)), read: [] });
  return { first, full };
}

/**
 * The id of the image `cmd.image` when building it again would make the same image: the recorded
 * inputs are the folder's now, and the engine still has that image under that name and the
 * builder the record names. Undefined whenever any of it is not so: then the build builds.
 */
export async function upToDateImage(
  engine: Engine,
  cache: BuildCache,
  cmd: BuildCommand,
  builderRef: string,
  full: ProjectSnapshot,
  identity: unknown,
): Promise<string | undefined> {
  const record = cache.record(cmd.image);
  if (!record) return undefined;
  const read = new Set(record.read.map((rel) => path.resolve(full.modelDir, rel)));
  if (inputsDigest(full, identity, read) !== record.inputs) return undefined;
  const [image, builder] = await Promise.all([engine.inspectImage(cmd.image), engine.inspectImage(builderRef)]);
  return image?.id === record.id && builder?.id === record.builder ? record.id : undefined;
}

/**
 * Records in the cache what the image `imageId` was built from: the snapshot the build read its
 * project from (digested as upToDateImage will digest the tree next time), its builder, and the
 * image its source step went on (source-rebuild.ts).
 */
export async function recordBuild(
  cache: BuildCache,
  cmd: BuildCommand,
  ctx: CommandContext,
  identity: unknown,
  snapshot: ProjectSnapshot,
  imageId: string,
  builderId: string,
  base?: SourceBase,
): Promise<void> {
  const read = readBeyondWalked(snapshot);
  await cache.save(cmd.image, {
    inputs: inputsDigest(snapshot, identity, read),
    walked: walkedBeyondModel(snapshot),
    read: [...read].map((file) => relative(snapshot.modelDir, file)),
    id: imageId,
    builder: builderId,
    at: ctx.now().getTime(),
    ...(base ? { base } : {}),
  });
}
