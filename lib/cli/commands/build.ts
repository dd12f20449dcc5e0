// `cortex-s2i build <source> <builder> <image>`: read the project, plan, print, build, tag.

import path from 'node:path';
import {
  readCommittedFiles,
  readRevision,
  revisionStamp,
  unchangedSince,
  type CommittedFile,
  type SourceRevision,
} from '../../config/git.js';
import type { ProjectSource } from '../../config/project.js';
import type { ProjectSnapshot } from '../../config/scan.js';
import { ENVIRONMENT_FILE, CORTEX_YAML } from '../../config/source-tree.js';
import { formatProblem, invalidProject, sourceNotFound, unknownBuilder, usageError } from '../../errors.js';
import type { Engine } from '../../engine/engine.js';
import { readCortexYaml } from '../../config/read-cortex-yaml.js';
import {
  builderKindOf,
  bundledBuilderImage,
  BUILDER_KIND_LABEL,
  S2I_DESTINATION_LABEL,
  S2I_SCRIPTS_URL_LABEL,
  type Builder,
} from '../../plan/builders.js';
import type { Command } from '../args.js';
import { BuildCache } from '../build-cache.js';
import type { CommandContext, Output } from '../context.js';
import { BuildProgress, resolveProgress, type LiveStream, type ProgressStyle } from '../progress.js';
import { CortexError, ExitCode } from '../../errors.js';
import { withEngine } from './engine-access.js';
import { buildLog, prepareCacheFrom, printResult, publishBuild, type BuildReport } from './build-publish.js';
import type { PushedImage } from './registry-access.js';
import { buildIdentity, recordBuild, snapshotAsRecorded, upToDateImage } from './up-to-date.js';
import type { SourceRebuild } from './source-rebuild.js';
import type { BuildPlan } from '../../plan/build-plan.js';

type BuildCommand = Extract<Command, { name: 'build' }>;

/** What a build ended with: an image (and its report), a dry run's Dockerfile, or a written context. */
export type BuildOutcome =
  | { kind: 'built'; report: BuildReport; pushed: PushedImage[] }
  | { kind: 'dry-run'; image: string; dockerfile: string; plan: string[]; warnings: string[] }
  | { kind: 'as-dockerfile'; image: string; dir: string; warnings: string[] };

export async function buildCommand(cmd: BuildCommand, ctx: CommandContext): Promise<number> {
  const outcome = await runBuild(cmd, ctx);
  if (outcome.kind === 'built') printResult(ctx, cmd, outcome.report, outcome.pushed);
  return ExitCode.ok;
}

/** How this build shows its progress: --progress, decided against the stream its lines go to. */
function progressFor(cmd: BuildCommand, ctx: CommandContext): { style: ProgressStyle; live: LiveStream | undefined } {
  const live = cmd.quiet || cmd.json ? ctx.display?.err : ctx.display?.out;
  const style = resolveProgress(cmd.progress, live ?? { isTTY: false }, {
    CI: ctx.display?.ci ? 'true' : '',
    NO_COLOR: ctx.display?.noColor ? '1' : '',
  });
  return { style, live };
}

/**
 * The build itself, printing only its log (stdout, or stderr when stdout carries a result): the
 * CLI prints the outcome, the library returns it.
 */
export async function runBuild(cmd: BuildCommand, ctx: CommandContext): Promise<BuildOutcome> {
  const { style, live } = progressFor(cmd, ctx);
  const full = buildLog(cmd, ctx.output);
  // quiet: errors and the result only. A dry run and --as-dockerfile print what they were asked for.
  const output: Output =
    style.mode === 'quiet' && !cmd.dryRun && cmd.asDockerfile === undefined ? { out: () => {}, err: full.err } : full;
  const started = ctx.now().getTime();
  const engineBuild = !cmd.dryRun && cmd.asDockerfile === undefined;
  // A build that will talk to the engine starts loading its adapter (dockerode) now, so that the
  // loading overlaps the waits below (files, git) instead of following them.
  if (engineBuild) void import('../../engine/docker-engine.js').catch(() => undefined);
  const modelDir = path.resolve(cmd.source);
  const epoch = ctx.sourceDateEpoch;
  // What git would say of the commit, from the repository's files: no git process to start.
  const revisionStamped = revisionStamp(modelDir).catch(() => 'unreadable');
  const kind = builderKindOf(cmd.builder);
  const builderRef = kind ? bundledBuilderImage(kind, ctx.toolVersion, ctx.builderRepo) : cmd.builder;

  // A rebuild of what the cache says was built from the same inputs ends here, before a source
  // file is read (up-to-date.ts); its first look at the tree is where the full reading starts.
  const cache = engineBuild ? await BuildCache.open(modelDir) : undefined;
  let firstLook: ProjectSnapshot | undefined;
  const record = cache?.record(cmd.image);
  if (cache && record && !cmd.noCache) {
    const looked = await snapshotAsRecorded(modelDir, ctx, record).catch(() => undefined);
    if (looked) {
      firstLook = looked.first;
      const identity = await buildIdentity(cmd, ctx, builderRef, await revisionStamped);
      const answered = await withEngine(ctx, async (engine) => {
        const found = await upToDateImage(engine, cache, cmd, builderRef, looked.full, identity);
        return found === undefined ? undefined : answerUpToDate(ctx, engine, cmd, found, output, full, started);
      });
      if (answered) return answered;
    }
  }

  // git is asked now (not by a rebuild found up to date), so that it answers while the project is
  // read: the commit for the labels, and the files of HEAD when they can date the image.
  const fromGit = Promise.all([
    readRevision(modelDir),
    epoch === undefined ? readCommittedFiles(modelDir, 'HEAD') : undefined,
  ]);
  const [
    { readProject, SourceDirectoryError },
    { planBuild },
    { planCortexBuild, selectApis },
    { describePlan, formatBytes },
    { renderDockerfile },
    { DEFAULT_MTIME },
  ] = await Promise.all([
    import('../../config/project.js'),
    import('../../plan/build-plan.js'),
    import('../../plan/cortex-plan.js'),
    import('../../plan/describe.js'),
    import('../../render/dockerfile.js'),
    import('../../context/tar.js'),
  ]);
  // A folder with cortex.yaml is a Cortex project: its APIs are served, and the folder is the root.
  const allApis = await readCortexYaml(cmd.source).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')
      throw sourceNotFound(cmd.source);
    throw err;
  });
  if (cmd.api !== undefined && allApis === undefined)
    throw usageError(
      `--api ${cmd.api}: ${cmd.source} has no ${CORTEX_YAML}`,
      '--api picks one API of a Cortex project',
    );
  let apis: typeof allApis;
  if (allApis) {
    const chosen = selectApis(allApis, path.resolve(cmd.source, CORTEX_YAML), cmd.api);
    if (!chosen.ok) throw invalidProject(chosen.errors);
    apis = chosen.value;
  }
  const cortexOptions = apis
    ? {
        environmentText: '',
        pythonPaths: [...new Set(apis.flatMap((a) => (a.predictor.pythonPath ? [a.predictor.pythonPath] : [])))],
      }
    : {};
  let inputs: ProjectSnapshot | undefined;
  const project = await readProject(cmd.source, apis ? cmd.source : cmd.project, {
    ...(ctx.home ? { home: ctx.home } : {}),
    extraEnv: cmd.env,
    ...cortexOptions,
    ...(firstLook ? { snapshot: firstLook } : {}),
    ...(cache ? { findImports: cache.findImports } : {}),
    onSnapshot: (snapshot) => (inputs = snapshot),
  }).catch((err: unknown) => {
    if (err instanceof SourceDirectoryError) throw sourceNotFound(cmd.source);
    throw err;
  });
  if (!project.ok) throw invalidProject(project.errors);

  if (apis && kind !== 'daemon')
    throw usageError(
      `${cmd.source} is a Cortex project (${CORTEX_YAML}): it builds with the daemon builder, not ${cmd.builder}`,
      `cortex-s2i build ${cmd.source} daemon ${cmd.image}`,
    );
  // A bundled builder is known by name, so a dry run needs no engine; any other image is
  // inspected to learn where its s2i scripts are.
  const builder: Builder = kind
    ? { style: 'cortex', image: builderRef, kind }
    : await withEngine(ctx, (engine) => inspectBuilder(engine, cmd.builder, cmd.allowRoot));

  const [revision, committed] = await fromGit;
  const request = {
    project: project.value,
    image: cmd.image,
    builder,
    extraEnv: cmd.env,
    revision,
    created: new Date(
      epoch === undefined ? await sourceTime(project.value, revision, committed) : epoch * 1000,
    ).toISOString(),
    toolVersion: ctx.toolVersion,
  };
  const planned = apis && allApis ? planCortexBuild(request, apis, allApis) : planBuild(request);
  if (!planned.ok) throw invalidProject(planned.errors);
  const plan = planned.value;

  const description = describePlan(plan);
  for (const line of description) output.out(line);
  for (const api of apis ?? [])
    output.out(
      `  api           POST ${api.endpoint} -> ${api.name} (${api.predictor.path}${api.monitoring ? `, monitoring ${api.monitoring.modelType}` : ''})`,
    );
  for (const w of plan.warnings) output.err(`warning: ${formatProblem(w)}`);
  const dockerfile = renderDockerfile(plan, ctx.toolVersion);
  if (cmd.asDockerfile !== undefined) {
    const { writeAsDockerfile } = await import('./as-dockerfile.js');
    await writeAsDockerfile(
      cmd.asDockerfile,
      plan,
      dockerfile.text,
      epoch === undefined ? DEFAULT_MTIME : new Date(epoch * 1000),
      output,
    );
    return {
      kind: 'as-dockerfile',
      image: plan.image,
      dir: cmd.asDockerfile,
      warnings: plan.warnings.map(formatProblem),
    };
  }
  if (cmd.dryRun) {
    output.out('Dockerfile:');
    for (const line of dockerfile.text.trimEnd().split('\n')) output.out(`  ${line}`);
    output.out('dry run: nothing was sent to the engine');
    return {
      kind: 'dry-run',
      image: plan.image,
      dockerfile: dockerfile.text,
      plan: description,
      warnings: plan.warnings.map(formatProblem),
    };
  }

  const [
    { executePlan },
    { ImportCheckReport },
    { requirementsFailure },
    { describeSourceBase, lookAtBase, rebuildSource, sourceBaseKey },
  ] = await Promise.all([
    import('../../engine/execute-plan.js'),
    import('./import-check.js'),
    import('./requirements-failure.js'),
    import('./source-rebuild.js'),
  ]);
  const mtime = epoch === undefined ? DEFAULT_MTIME : new Date(epoch * 1000);
  return withEngine(ctx, async (engine) => {
    const sourceOnly =
      cache && inputs && record?.base && !cmd.noCache && !cmd.cacheFrom?.length ? record.base : undefined;
    const seen = sourceOnly && lookAtBase(engine, plan.image, sourceOnly).catch(() => undefined);
    const builderInfo = await engine.inspectImage(builder.image);
    if (!builderInfo) throw unknownBuilder(builder.image);
    const baseKey = cache ? sourceBaseKey(dockerfile, plan, builderInfo.id) : undefined;
    const identity = async () => buildIdentity(cmd, ctx, builderRef, await revisionStamped);
    // Only the source changed since the last build: its image gets a new source layer, unbuilt.
    if (cache && inputs && record && sourceOnly && baseKey === sourceOnly.key) {
      const rebuilt = await rebuildSource(engine, plan, dockerfile, record, sourceOnly, await seen, {
        mtime,
        compress: cmd.compress,
        signal: ctx.signal,
      });
      if (rebuilt) {
        await recordBuild(cache, cmd, ctx, await identity(), inputs, rebuilt.imageId, builderInfo.id, rebuilt.recorded);
        if (rebuilt.unchanged)
          return answerUpToDate(
            ctx,
            engine,
            cmd,
            rebuilt.imageId,
            output,
            full,
            started,
            'what goes into the image is what it has: the same source layer and labels',
          );
        return answerSourceOnly(ctx, engine, cmd, plan, rebuilt, output, full, started);
      }
    }
    const cacheFrom = await prepareCacheFrom(ctx, engine, cmd, plan.image, output);
    output.out(`building ${plan.image}`);
    const progress = new BuildProgress(output, () => ctx.now(), !cmd.quiet, dockerfile.dependencyStep, {
      style,
      ...(live ? { live } : {}),
    });
    const importCheck = new ImportCheckReport(plan);
    const logLines: string[] = [];
    const outcome = await executePlan(plan, dockerfile, engine, {
      mtime,
      noCache: cmd.noCache,
      compress: cmd.compress,
      ...(cacheFrom.sources.length ? { cacheFrom: cacheFrom.sources } : {}),
      signal: ctx.signal,
      onEvent: (event) => {
        if (event.type === 'log') logLines.push(event.text);
        importCheck.onEvent(event);
        progress.onEvent(event);
        ctx.onBuildEvent?.(event);
      },
    }).catch((err: unknown) => {
      progress.close();
      const requirementsFile = plan.dependencies.requirements
        ? Object.values(project.value.requirements).find((r) => r.file === plan.dependencies.requirements!.from)
        : undefined;
      const explained = importCheck.failure(err) ?? requirementsFailure(plan.image, err, requirementsFile, logLines);
      if (explained) throw explained;
      // The log was on the screen as it came: the end of it once is enough.
      if (
        !cmd.quiet &&
        style.mode !== 'quiet' &&
        logLines.length > 0 &&
        err instanceof CortexError &&
        err.exitCode === ExitCode.buildFailed
      )
        throw err.withoutDetails();
      throw err;
    });
    for (const w of importCheck.warnings()) output.err(`warning: ${formatProblem(w)}`);
    progress.finishStep();
    const seconds = ((ctx.now().getTime() - started) / 1000).toFixed(1);
    output.out(`sent ${formatBytes(outcome.bytesSent)} to the engine (source files: ${formatBytes(plan.sourceBytes)})`);
    // The result: printed in quiet mode too.
    full.out(`built ${plan.image} (${outcome.imageId}) in ${seconds}s`);
    if (cache && inputs) {
      const base =
        baseKey === undefined
          ? undefined
          : await describeSourceBase(engine, outcome.imageId, baseKey, plan, mtime, record?.base).catch(
              () => undefined,
            );
      await recordBuild(cache, cmd, ctx, await identity(), inputs, outcome.imageId, builderInfo.id, base);
    }
    return publishBuild(
      ctx,
      engine,
      cmd,
      {
        image: plan.image,
        sourceBytes: plan.sourceBytes,
        planWarnings: plan.warnings.map(formatProblem),
        imageId: outcome.imageId,
        bytesSent: outcome.bytesSent,
        seconds: Number(seconds),
        steps: progress.durations,
        dependencyStep: dockerfile.dependencyStep,
        cacheFrom: cacheFrom.sources,
        warnings: cacheFrom.warnings,
      },
      output,
    );
  });
}

/** The answer of a build that found its image up to date (up-to-date.ts): the image, as built before. */
async function answerUpToDate(
  ctx: CommandContext,
  engine: Engine,
  cmd: BuildCommand,
  imageId: string,
  output: Output,
  full: Output,
  started: number,
  why?: string,
): Promise<BuildOutcome> {
  const seconds = (ctx.now().getTime() - started) / 1000;
  output.out(
    `${why ?? `nothing changed since ${cmd.image} was built: no file, option, commit or builder`} (to build it anyway: --no-cache)`,
  );
  // The result: printed in quiet mode too.
  full.out(`${cmd.image} (${imageId}) is up to date, ${seconds.toFixed(1)}s`);
  return publishBuild(
    ctx,
    engine,
    cmd,
    {
      image: cmd.image,
      sourceBytes: 0,
      planWarnings: [],
      imageId,
      bytesSent: 0,
      seconds,
      steps: [],
      dependencyStep: undefined,
      cacheFrom: [],
      warnings: [],
      upToDate: true,
    },
    output,
  );
}

/** The answer of a rebuild that made only the source layer (source-rebuild.ts). */
async function answerSourceOnly(
  ctx: CommandContext,
  engine: Engine,
  cmd: BuildCommand,
  plan: BuildPlan,
  rebuilt: SourceRebuild,
  output: Output,
  full: Output,
  started: number,
): Promise<BuildOutcome> {
  const { formatBytes } = await import('../../plan/describe.js');
  const seconds = (ctx.now().getTime() - started) / 1000;
  output.out(`building ${plan.image}`);
  output.out(
    `  source        ${plan.source.length} files onto ${rebuilt.base.slice(0, 19)}, as the last build's source step: nothing before it changed`,
  );
  output.out(`sent ${formatBytes(rebuilt.bytesSent)} to the engine (source files: ${formatBytes(plan.sourceBytes)})`);
  // The result: printed in quiet mode too.
  full.out(`built ${plan.image} (${rebuilt.imageId}) in ${seconds.toFixed(1)}s`);
  return publishBuild(
    ctx,
    engine,
    cmd,
    {
      image: plan.image,
      sourceBytes: plan.sourceBytes,
      planWarnings: plan.warnings.map(formatProblem),
      imageId: rebuilt.imageId,
      bytesSent: rebuilt.bytesSent,
      seconds,
      steps: [],
      dependencyStep: undefined,
      cacheFrom: [],
      warnings: [],
      sourceOnly: true,
    },
    output,
  );
}

/**
 * The image's creation time, from the source rather than the clock, so that the same source
 * gives the same image (SOURCE_DATE_EPOCH, when set, wins over both): the commit's time when the
 * files sent are exactly the commit's, which a fresh clone or a CI checkout keeps whatever its
 * file times; else the newest file that goes into the image.
 */
async function sourceTime(
  project: ProjectSource,
  revision: SourceRevision | undefined,
  committed: ReadonlyMap<string, CommittedFile> | undefined,
): Promise<number> {
  const files = [
    ...project.modelFiles,
    ...project.rootFiles,
    ...project.sharedFolders.flatMap((f) => f.files),
    ...project.includedModels.flatMap((f) => f.files),
  ];
  if (revision?.time !== undefined && committed) {
    // .s2i/environment is not sent, but its values are baked into the image.
    const environment = { abs: path.join(project.model.dir, ENVIRONMENT_FILE) };
    const links = project.links.map((l) => ({ abs: path.join(project.root, ...l.path.split('/')), target: l.target }));
    if (await unchangedSince(committed, [...files, environment], links)) return revision.time * 1000;
  }
  // Whole seconds: file systems keep finer times than a label needs, and not all the same ones.
  return Math.floor(Math.max(0, ...files.map((f) => f.mtimeMs)) / 1000) * 1000;
}

async function inspectBuilder(engine: Engine, ref: string, allowRoot: boolean): Promise<Builder> {
  const info = await engine.inspectImage(ref);
  if (!info) throw unknownBuilder(ref);
  const kind = builderKindOf(info.labels[BUILDER_KIND_LABEL] ?? '');
  if (kind) return { style: 'cortex', image: ref, kind };
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
